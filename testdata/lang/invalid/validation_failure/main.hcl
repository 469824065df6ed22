variable "environment" {
  type    = string
  default = "qa"

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "The environment must be staging or production."
  }
}

variable "replicas" {
  type    = number
  default = "three"
}
