# A SaaS platform whose regulated customers keep their tenants' data in their
# own cloud: network in AWS (aws.hcl), storage in Azure (azure.hcl) and in
# Google Cloud (gcp.hcl). This file holds what every cloud shares: the
# billing tiers and the security policies. The tenant catalog stays in the
# embedded SQLite provider under .tenancy/.
#
# Each cloud file reads its endpoint from a variable whose default is the
# local emulator's address, as `scripts/services start` provides them, so
#
#   scripts/services start
#   tenancy -C examples/multi-cloud plan
#
# runs on a development machine without any cloud account.

tier "starter" {
  price         = 0
  currency      = "EUR"
  billing_cycle = "monthly"
  description   = "For evaluation and small teams."
  features      = ["api"]

  limits {
    storage_gb = 5
    seats      = 5
  }
}

tier "business" {
  price         = 290.00
  currency      = "EUR"
  billing_cycle = "monthly"
  trial_days    = 30
  features      = ["api", "sso", "audit_log"]

  limits {
    storage_gb = 500
    seats      = 100
  }
}

tier "enterprise" {
  price         = 2900.00
  currency      = "EUR"
  billing_cycle = "yearly"
  trial_days    = 30
  features      = ["api", "sso", "audit_log", "dedicated_support", "customer_cloud"]

  limits {
    storage_gb          = 10000
    seats               = 5000
    requests_per_second = 2000
  }
}

# Public endpoints: HTTPS from anywhere.
security_policy "standard" {
  encryption_at_rest = true
  tls_min_version    = "1.2"
  allowed_networks   = ["0.0.0.0/0"]
  retention_days     = 30
}

# Regulated customers: reachable only from their corporate networks, data
# kept in the EU, longer retention.
security_policy "regulated" {
  encryption_at_rest = true
  audit_logging      = true
  mfa_required       = true
  tls_min_version    = "1.3"
  allowed_networks   = ["10.0.0.0/8", "192.168.0.0/16"]
  data_residency     = ["eu"]
  compliance         = ["gdpr", "iso_27001"]
  retention_days     = 365
}
