# A SaaS platform on PostgreSQL and Redis: every tenant gets a PostgreSQL
# login role with one of the three isolation modes, several also get a Redis
# ACL user, and the state itself lives in PostgreSQL so that the whole team
# and CI share it. Build tenancy with `--features postgres,redis`.

tenancy {
  parallelism = 8

  state "postgres" {
    url  = var.postgres_url
    name = "saas-platform"
  }
}

variable "postgres_url" {
  type        = string
  default     = "postgres://postgres@127.0.0.1:5432/postgres"
  sensitive   = true
  description = "Admin connection to the PostgreSQL server that holds tenant data and the state. The user needs CREATEROLE and CREATEDB."
}

variable "redis_url" {
  type        = string
  default     = "redis://127.0.0.1:6379"
  sensitive   = true
  description = "Admin connection to the Redis server; its user needs the ACL commands."
}

variable "shared_database" {
  type        = string
  default     = "saas_shared"
  description = "Database that holds the schemas of schema-isolated tenants and the tables of row-isolated tenants."

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]*$", var.shared_database))
    error_message = "The shared database name must be a lowercase identifier."
  }
}

locals {
  common_labels = {
    managed_by = "tenancy"
    platform   = "saas-platform"
  }
}

provider "postgres" {
  url = var.postgres_url

  # Row-isolated tenants share these application tables; setup.sql creates
  # them in the shared database before the first apply.
  tables = ["app.orders", "app.events"]
}

provider "redis" {
  url = var.redis_url
}
