tier "pro" {
  price       = 10
  currency    = "EUR"
  description = uppercase("pro")
  features    = split(",", 42, "x")
}
