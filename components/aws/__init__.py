"""AWS parts both hostings use: regional providers with tags, KMS keys, policy documents and
notification topics (`base`), the backup bucket (`buckets`), the freshness checker and its alarms
(`watch`). The cloud installation's own parts are in `components/cloud/`."""
