tier "pro" {
  prise    = 10
  currency = "EUR"
}

security_policy "strict" {
  mfa_requried = true
}
