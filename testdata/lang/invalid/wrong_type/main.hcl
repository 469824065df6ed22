tier "pro" {
  price      = "cheap"
  currency   = "EUR"
  trial_days = true
  features   = "sso"
}

security_policy "strict" {
  audit_logging = "yes"
}
