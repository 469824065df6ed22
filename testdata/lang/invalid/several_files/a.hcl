tier "pro" {
  price    = 10
  currency = "EUR"
  cycle    = "monthly"
}
