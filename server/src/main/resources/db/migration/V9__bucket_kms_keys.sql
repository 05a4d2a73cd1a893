-- The AWS KMS keys (resolved ARNs) a tenant bucket's default encryption has used, the current one last. Objects
-- encrypted under any of them stay unreadable without it, so retiring one of these keys is refused while the bucket
-- exists; presigned uploads name the current one.
ALTER TABLE ${silo_schema}.tenant_buckets ADD COLUMN IF NOT EXISTS kms_key_arns text[] NOT NULL DEFAULT '{}';
