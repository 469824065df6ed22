tier "pro" {
  price    = 10
  currency = env("CURRENCY")
}
