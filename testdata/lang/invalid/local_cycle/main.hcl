locals {
  region = local.zone
  zone   = "${local.prefix}-a"
  prefix = local.region
  ok     = "fine"
}
