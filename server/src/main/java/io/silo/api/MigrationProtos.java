package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.EncryptionAlgorithm;
import io.silo.api.v1.FailedItem;
import io.silo.api.v1.FieldPlan;
import io.silo.api.v1.Migration;
import io.silo.api.v1.MigrationDefinition;
import io.silo.api.v1.MigrationEvent;
import io.silo.api.v1.MigrationPhase;
import io.silo.api.v1.MigrationState;
import io.silo.api.v1.PhaseProgress;
import io.silo.api.v1.TenantPlan;
import io.silo.jobs.JobDefinition;
import io.silo.jobs.Migrations;
import io.vertx.grpc.server.StatusException;
import io.silo.jobs.PhaseName;
import io.silo.mongo.MongoSpec;
import io.silo.jobs.MigrationRecord;
import io.silo.jobs.MigrationStore;
import io.silo.jobs.ProgressBus;
import io.silo.mongo.EncryptionPlan;
import io.silo.mongo.FieldRule;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Converts between the migration engine's records and the silo.v1 messages; requests are merged with defaults here. */
final class MigrationProtos {

  private MigrationProtos() {
  }

  /**
   * The effective definition of a request: which phases run (the request's list; else MONGO, and S3 as
   * {@code include_s3} says or the server is configured), each part from the defaults with the request's overrides.
   *
   * @throws StatusException FAILED_PRECONDITION naming the field when a phase is asked for that this server does not
   *     run, INVALID_ARGUMENT for a phase that is not a work phase
   */
  static JobDefinition job(boolean has, MigrationDefinition d, JobDefinition defaults,
                           EncryptionPlan.Namespace keyVault) throws StatusException {
    java.util.Set<PhaseName> wanted = java.util.EnumSet.noneOf(PhaseName.class);
    if (has && d.getPhasesCount() > 0) {
      for (int i = 0; i < d.getPhasesCount(); i++) {
        MigrationPhase phase = d.getPhases(i);
        switch (phase) {
          case MIGRATION_PHASE_KEYS -> { }
          case MIGRATION_PHASE_MONGO -> wanted.add(PhaseName.MONGO);
          case MIGRATION_PHASE_S3 -> wanted.add(PhaseName.S3);
          default -> throw GrpcErrors.invalidArgument("definition.phases[" + i + "]", "must be KEYS, MONGO or S3, got "
              + phase + " (VERIFY runs after every migration)");
        }
      }
      if (wanted.isEmpty()) {
        throw GrpcErrors.invalidArgument("definition.phases", "lists no phase that copies data (MONGO or S3)");
      }
    } else {
      wanted.add(PhaseName.MONGO);
      boolean s3 = has && d.hasIncludeS3() ? d.getIncludeS3() : defaults.has(PhaseName.S3);
      if (s3) {
        wanted.add(PhaseName.S3);
      }
    }
    java.util.Map<PhaseName, io.silo.jobs.PhaseSpec> parts = new java.util.EnumMap<>(PhaseName.class);
    for (PhaseName phase : wanted) {
      if (!defaults.has(phase)) {
        String field = has && d.getPhasesCount() > 0 ? "definition.phases" : "definition.include_s3";
        throw GrpcErrors.failedPrecondition(field + ": this server does not run the " + phase + " phase"
            + (phase == PhaseName.S3 ? " (S3 is not configured: set the s3.* settings)" : ""));
      }
      if (phase == PhaseName.MONGO) {
        EncryptionPlan mongoDefaults = defaults.part(PhaseName.MONGO, MongoSpec.class).plan();
        parts.put(phase, new MongoSpec(has ? plan(d, mongoDefaults, keyVault) : mongoDefaults));
      } else {
        parts.put(phase, defaults.part(phase).orElseThrow());
      }
    }
    return new JobDefinition(parts);
  }

  /** One tenant's dry run: every phase's estimate folded into the TenantPlan message. */
  static TenantPlan tenantPlan(Migrations.TenantPlan p) {
    TenantPlan.Builder tp = TenantPlan.newBuilder().setTenant(p.tenant())
        .setEstimatedDuration(com.google.protobuf.Duration.newBuilder()
            .setSeconds(p.estimate().getSeconds()).setNanos(p.estimate().getNano()));
    for (io.silo.jobs.Phase.Estimate e : p.estimates()) {
      if (e.detail() instanceof io.silo.mongo.MongoPhase.Plan mongo) {
        tp.setDocuments(mongo.documents()).setEncryptionPath(mongo.encryptionPath());
        mongo.plan().fields().forEach(f -> tp.addFields(field(f)));
        if (mongo.plan().unplanned() == EncryptionPlan.Unplanned.COPY) {
          tp.addAllPlaintextFields(mongo.unplannedFields());
        } else if (mongo.plan().unplanned() == EncryptionPlan.Unplanned.DROP) {
          tp.addAllDroppedFields(mongo.unplannedFields());
        }
      } else if (e.phase() == PhaseName.KEYS) {
        tp.setKeyExists(e.detail() != null);
      } else if (e.phase() == PhaseName.S3) {
        tp.setObjects(e.items()).setObjectBytes(e.bytes()).setTargetBucket(e.target() == null ? "" : e.target());
      }
    }
    return tp.build();
  }

  /**
   * The effective plan of a request: the deployment's defaults with every field the request sets replacing the
   * default. Field plans are replaced as a whole, never merged entry by entry.
   */
  static EncryptionPlan plan(MigrationDefinition d, EncryptionPlan defaults, EncryptionPlan.Namespace keyVault) {
    String prefix = "definition.";
    if (d.getFieldsCount() > EncryptionPlan.MAX_FIELDS) {
      // Refused before any per-field work, so the cost of a hostile plan stays bounded on the event loop.
      throw new EncryptionPlan.InvalidPlanException(prefix + "fields", "lists " + d.getFieldsCount()
          + " fields; the limit is " + EncryptionPlan.MAX_FIELDS + " per plan");
    }
    EncryptionPlan.Namespace source = d.getSourceNamespace().isEmpty() ? defaults.source()
        : EncryptionPlan.Namespace.parse(prefix + "source_namespace", d.getSourceNamespace());
    EncryptionPlan.Namespace target = d.getTargetNamespace().isEmpty() ? defaults.target()
        : EncryptionPlan.Namespace.parse(prefix + "target_namespace", d.getTargetNamespace());
    String tenantField = d.getTenantField().isEmpty() ? defaults.tenantField() : d.getTenantField();
    List<FieldRule> fields = defaults.fields();
    if (d.getFieldsCount() > 0) {
      fields = new ArrayList<>();
      for (FieldPlan f : d.getFieldsList()) {
        FieldRule.Algorithm algorithm = switch (f.getAlgorithm()) {
          case ENCRYPTION_ALGORITHM_DETERMINISTIC -> FieldRule.Algorithm.DETERMINISTIC;
          case ENCRYPTION_ALGORITHM_RANDOM -> FieldRule.Algorithm.RANDOM;
          default -> null;
        };
        fields.add(new FieldRule(f.getPath(), algorithm, f.getBsonType()));
      }
    }
    if (d.getBatchSize() < 0) {
      throw new EncryptionPlan.InvalidPlanException(prefix + "batch_size", "must be 1-" + EncryptionPlan.MAX_BATCH_SIZE
          + " (0 = the default " + defaults.batchSize() + "), got " + d.getBatchSize());
    }
    int batch = d.getBatchSize() == 0 ? defaults.batchSize() : d.getBatchSize();
    EncryptionPlan.Unplanned unplanned = switch (d.getUnplannedFields()) {
      case UNPLANNED_FIELD_POLICY_COPY -> EncryptionPlan.Unplanned.COPY;
      case UNPLANNED_FIELD_POLICY_DROP -> EncryptionPlan.Unplanned.DROP;
      case UNPLANNED_FIELD_POLICY_FAIL -> EncryptionPlan.Unplanned.FAIL;
      case UNPLANNED_FIELD_POLICY_UNSPECIFIED -> defaults.unplanned();
      default -> throw new EncryptionPlan.InvalidPlanException(prefix + "unplanned_fields",
          "must be COPY, DROP or FAIL, got " + d.getUnplannedFieldsValue());
    };
    return new EncryptionPlan(source, target, tenantField, List.copyOf(fields), batch, unplanned).validate(prefix, keyVault);
  }

  /** The stored definition as the API shows it: the Mongo plan's fields, and whether the S3 phase runs. */
  static MigrationDefinition definition(io.vertx.core.json.JsonObject stored) {
    io.vertx.core.json.JsonObject mongo = stored.getJsonObject(PhaseName.MONGO.key());
    MigrationDefinition.Builder out = mongo == null ? MigrationDefinition.newBuilder()
        : definition(MongoSpec.fromJson(mongo).plan()).toBuilder();
    return out.setIncludeS3(stored.containsKey(PhaseName.S3.key())).build();
  }

  static MigrationDefinition definition(EncryptionPlan plan) {
    MigrationDefinition.Builder out = MigrationDefinition.newBuilder()
        .setSourceNamespace(plan.source().toString())
        .setTargetNamespace(plan.target().toString())
        .setTenantField(plan.tenantField())
        .setBatchSize(plan.batchSize())
        .setUnplannedFields(io.silo.api.v1.UnplannedFieldPolicy.valueOf("UNPLANNED_FIELD_POLICY_"
            + plan.unplanned().name()));
    plan.fields().forEach(f -> out.addFields(field(f)));
    return out.build();
  }

  static FieldPlan field(FieldRule f) {
    return FieldPlan.newBuilder().setPath(f.path()).setBsonType(f.bsonType())
        .setAlgorithm(f.algorithm() == FieldRule.Algorithm.DETERMINISTIC
            ? EncryptionAlgorithm.ENCRYPTION_ALGORITHM_DETERMINISTIC : EncryptionAlgorithm.ENCRYPTION_ALGORITHM_RANDOM)
        .build();
  }

  static Migration migration(MigrationRecord m) {
    Migration.Builder out = Migration.newBuilder()
        .setId(m.id().toString())
        .setTenant(m.tenant())
        .setState(MigrationState.valueOf("MIGRATION_STATE_" + m.state()))
        .setPhase(phase(m.phase()))
        .setDefinition(definition(m.definition()))
        .setLastError(m.lastError() == null ? "" : m.lastError())
        .setNotice(m.notice() == null ? "" : m.notice())
        .addAllPlaintextFields(m.plaintextFields())
        .setRetryAttempts(m.retryAttempts())
        .setIdempotencyKey(m.idempotencyKey() == null ? "" : m.idempotencyKey());
    long copied = 0;
    for (io.silo.jobs.PhaseProgress p : m.phases()) {
      if (p.phase() == PhaseName.KEYS) {
        // The KEYS phase has one item, the tenant's data key; it is done once the run is bound to one.
        out.addProgress(PhaseProgress.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_KEYS).setTotal(1)
            .setDone(m.keyId() != null ? 1 : 0));
        continue;
      }
      out.addProgress(PhaseProgress.newBuilder().setPhase(phase(p.phase().name())).setTotal(p.total())
          .setDone(p.done()).setFailed(p.failed()).setBytes(p.bytes()).setDetail(p.detail() == null ? "" : p.detail()));
      copied += p.done() + p.failed();
    }
    if (m.phase().equals("VERIFY") || m.verifyChecked() > 0) {
      out.addProgress(PhaseProgress.newBuilder().setPhase(MigrationPhase.MIGRATION_PHASE_VERIFY)
          .setTotal(copied).setDone(m.verifyChecked()).setFailed(m.verifyFindings()));
    }
    if (m.createdAt() != null) {
      out.setCreateTime(ts(m.createdAt()));
    }
    if (m.updatedAt() != null) {
      out.setUpdateTime(ts(m.updatedAt()));
    }
    if (m.completedAt() != null) {
      out.setCompleteTime(ts(m.completedAt()));
    }
    return out.build();
  }

  static MigrationEvent event(ProgressBus.Snapshot s, long coalesced) {
    MigrationEvent.Builder out = MigrationEvent.newBuilder()
        .setMigration(migration(s.migration()))
        .setRatePerSecond(s.ratePerSecond())
        .setFinal(s.migration().isFinal())
        .setCoalesced(coalesced);
    if (s.eta() != null) {
      out.setEta(com.google.protobuf.Duration.newBuilder().setSeconds(s.eta().getSeconds())
          .setNanos(s.eta().getNano()));
    }
    return out.build();
  }

  static FailedItem failedItem(MigrationStore.Failure f) {
    FailedItem.Builder out = FailedItem.newBuilder()
        .setPhase(phase(f.phase()))
        .setSourceId(f.sourceId())
        .setKey(f.itemKey() == null ? "" : f.itemKey())
        .setVersionId(f.versionId() == null ? "" : f.versionId())
        .setErrorCode(f.errorCode())
        .setMessage(f.message());
    if (f.httpStatus() != null) {
      out.setHttpStatus(f.httpStatus());
    }
    if (f.time() != null) {
      out.setTime(ts(f.time()));
    }
    return out.build();
  }

  static MigrationPhase phase(String phase) {
    return MigrationPhase.valueOf("MIGRATION_PHASE_" + phase);
  }

  /** The stored state name of a proto state, or null for UNSPECIFIED. */
  static String state(MigrationState state) {
    if (state == MigrationState.MIGRATION_STATE_UNSPECIFIED || state == MigrationState.UNRECOGNIZED) {
      return null;
    }
    return state.name().substring("MIGRATION_STATE_".length()).toUpperCase(Locale.ROOT);
  }

  static Timestamp ts(OffsetDateTime t) {
    return Timestamp.newBuilder().setSeconds(t.toEpochSecond()).setNanos(t.getNano()).build();
  }
}
