# `strict` is for regulated customers: the postgres provider turns on
# statement logging and password rotation for them, and the redis provider
# forbids the @dangerous command category.
security_policy "strict" {
  encryption_at_rest        = true
  audit_logging             = true
  mfa_required              = true
  tls_min_version           = "1.3"
  data_residency            = ["eu"]
  compliance                = ["gdpr", "soc2", "iso_27001"]
  password_rotation_days    = 90
  statement_timeout_seconds = 30
  idle_timeout_seconds      = 300
  retention_days            = 365
}

security_policy "standard" {
  encryption_at_rest        = true
  tls_min_version           = "1.2"
  statement_timeout_seconds = 120
}
