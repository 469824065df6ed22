variable "secret" {
  type      = string
  default   = "hunter2XYZ"
  sensitive = true
}

locals {
  lookup = { a = "1" }[var.secret]
}
