package io.silo.store;

import java.time.OffsetDateTime;

/** A tenant row as Silo sees it in the application's tenants table. */
public record TenantRecord(long id, String slug, String name, String status, OffsetDateTime createdAt,
                           OffsetDateTime updatedAt) {
}
