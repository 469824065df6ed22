tier "free" {
  price         = 0
  currency      = "EUR"
  billing_cycle = "monthly"
  description   = "Shared tables with row-level security, for evaluation."
  features      = ["api"]

  limits {
    storage_gb  = 1
    connections = 5
    seats       = 3
  }
}

tier "pro" {
  price         = 49.00
  currency      = "EUR"
  billing_cycle = "monthly"
  trial_days    = 14
  description   = "A schema of its own in the shared database, and a Redis namespace."
  features      = ["api", "sso", "audit_log", "cache"]

  usage_prices = {
    storage_gb = 0.10
    api_calls  = 0.002
  }

  limits {
    storage_gb          = 50
    connections         = 20
    seats               = 25
    requests_per_second = 200
  }
}

tier "enterprise" {
  price         = 1990.00
  currency      = "EUR"
  billing_cycle = "yearly"
  trial_days    = 30
  description   = "A database of its own, a Redis namespace and dedicated support."
  features      = ["api", "sso", "audit_log", "cache", "dedicated_support", "custom_retention"]

  limits {
    storage_gb          = 1000
    connections         = 100
    databases           = 5
    seats               = 1000
    requests_per_second = 5000
  }
}
