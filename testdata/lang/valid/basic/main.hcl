tier "pro" {
  price         = 49.00
  currency      = "EUR"
  billing_cycle = "monthly"
  trial_days    = 14

  limits {
    storage_gb  = 50
    connections = 20
  }
}

security_policy "eu_strict" {
  encryption_at_rest = true
  audit_logging      = true
  tls_min_version    = "1.2"
  data_residency     = ["eu"]
  compliance         = ["gdpr", "iso_27001"]
}

tenant "acme" {
  name            = "Acme Corporation"
  tier            = tier.pro
  region          = "eu-central-1"
  security_policy = security_policy.eu_strict

  database "postgres" {
    isolation = "schema"
  }
}
