tier "starter" {
  price    = 0
  currency = "USD"
  features = ["api"]
}

tier "enterprise" {
  price         = 999.5
  currency      = "EUR"
  billing_cycle = "yearly"
  description   = "For large teams"
  features      = concat(["api", "audit"], ["sso"])
  usage_prices = {
    storage_gb = 0.12
    requests   = 0.0001
  }

  limits {
    storage_gb          = 1000
    connections         = 200
    databases           = 10
    requests_per_second = 5000
    seats               = 500
  }
}

security_policy "strict" {
  mfa_required              = true
  tls_min_version           = "1.3"
  allowed_networks          = ["10.0.0.0/8", "fd00::/8"]
  password_rotation_days    = 90
  statement_timeout_seconds = 30
  idle_timeout_seconds      = 600
  retention_days            = 365
  compliance                = ["soc2", "hipaa"]
}

tenant "globex" {
  name            = "Globex ${title(var.environment)}"
  tier            = tier.enterprise
  region          = "westeurope"
  security_policy = "strict"
  contact_email   = "ops@globex.example"
  labels = {
    team = "platform"
    cost = local.prefix
  }

  database "postgres" {
    isolation = "database"
    provider  = postgres.eu
  }

  database "redis" {
    isolation  = "row"
    key_prefix = "globex:"
  }

  storage "gcs" {
    versioning     = true
    retention_days = 30
    location       = "EU"
  }

  network "aws" {
    cidr         = "10.20.0.0/16"
    subnet_count = 3
  }

  monitoring {
    alert_email = "alerts@globex.example"
  }
}

tenant "studios" {
  for_each   = var.studios
  name       = "Studio ${each.key}"
  tier       = tier.starter
  region     = each.value.region
  status     = each.key == "paris" ? "suspended" : "active"
  depends_on = [tenant.globex]

  database "sqlite" {
    journal_mode = "wal"
  }
}

tenant "local_dev" {
  for_each = toset(["alpha", "beta"])
  id       = "dev_${each.key}"
  name     = upper(each.value)
  tier     = "starter"
  region   = "local"

  database "sqlite" {}
}

resource "postgres_role" "reporting" {
  provider   = postgres
  name       = "reporting"
  login      = true
  depends_on = [tenant.globex]
}

output "globex_id" {
  value       = tenant.globex.id
  description = "The id of Globex."
}

output "studio_regions" {
  value = { for key, studio in tenant.studios : key => studio.region }
}

output "password" {
  value     = var.db_password
  sensitive = true
}

moved {
  from = tenant.globex_old
  to   = tenant.globex
}

policy "enterprise_needs_policy" {
  condition     = tenant.tier != "enterprise" || tenant.security_policy != null
  error_message = "Enterprise tenants need a security policy."
}

policy "suspended_warning" {
  condition     = tenant.status == "active"
  error_message = "Tenant ${tenant.id} is suspended."
  severity      = "warning"
}
