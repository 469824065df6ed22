# Settings, variables and providers.
tenancy {
  parallelism = 4

  state "local" {
    path = ".tenancy/state.json"
  }
}

variable "environment" {
  type        = string
  default     = "staging"
  description = "Deployment environment."

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "The environment must be staging or production."
  }
}

variable "db_password" {
  type      = string
  default   = "change-me"
  sensitive = true
}

variable "studios" {
  type = map(object({
    region = string
    seats  = optional(number)
  }))
  default = {
    berlin = { region = "eu-central-1", seats = 12 }
    paris  = { region = "eu-west-3" }
  }
}

variable "home" {
  type    = string
  default = coalesce(env("TENANCY_TEST_HOME_UNSET"), "/srv")
}

locals {
  prefix      = "tny-${var.environment}"
  eu_regions  = [for name, studio in var.studios : studio.region if startswith(studio.region, "eu-")]
  seat_counts = { for name, studio in var.studios : name => coalesce(studio.seats, 5) }
  banner      = <<-EOT
    Environment: ${upper(var.environment)}
    %{ for name in keys(var.studios) ~}
    studio ${name}
    %{ endfor ~}
  EOT
}

provider "postgres" {
  host     = "127.0.0.1"
  port     = 5432
  password = var.db_password
}

provider "postgres" {
  alias = "eu"
  host  = "127.0.0.1"
  user  = coalesce(env("TENANCY_TEST_PG_USER_UNSET"), "tenancy")
}

provider "sqlite" {
  directory = "${var.home}/tenants"
}
