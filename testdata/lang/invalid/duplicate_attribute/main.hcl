tier "pro" {
  price    = 10
  currency = "EUR"
  price    = 12
}
