output "acme_database_path" {
  description = "Where the Acme database file lives."
  value       = tenant.acme.database.sqlite.path
}

output "acme_trial_ends_at" {
  description = "When Acme's trial of the pro tier ends."
  value       = tenant.acme.subscription.trial_ends_at
}

output "studio_tenant_ids" {
  description = "Tenant ids of the studio locations."
  value       = [for key, studio in tenant.studios : studio.id]
}
