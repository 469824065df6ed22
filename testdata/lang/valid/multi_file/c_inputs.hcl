variable "team_price" {
  type    = number
  default = 25
}

locals {
  suffix = "Inc."
}
