# A small SaaS platform on the embedded default: the tenant catalog and one
# SQLite database per tenant live under .tenancy/ beside these files, so no
# server is needed.

tenancy {
  parallelism = 10
}

variable "default_region" {
  type        = string
  default     = "eu-central-1"
  description = "Region for tenants that do not choose one."
}

variable "support_email" {
  type    = string
  default = "platform@example.com"

  validation {
    condition     = can(regex("^[^@]+@[^@]+$", var.support_email))
    error_message = "The support email must be an email address."
  }
}

locals {
  common_labels = {
    managed_by = "tenancy"
    platform   = "quickstart"
  }
}
