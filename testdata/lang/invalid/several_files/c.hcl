security_policy "strict" {
  tls_min_version = "1.2"
  compliance      = ["gdpr"
}
