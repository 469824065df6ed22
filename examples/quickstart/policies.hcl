security_policy "standard" {
  encryption_at_rest = true
  tls_min_version    = "1.2"
}

security_policy "eu_strict" {
  encryption_at_rest        = true
  audit_logging             = true
  mfa_required              = true
  tls_min_version           = "1.3"
  data_residency            = ["eu"]
  compliance                = ["gdpr", "iso_27001"]
  password_rotation_days    = 90
  statement_timeout_seconds = 30
  retention_days            = 365
}
