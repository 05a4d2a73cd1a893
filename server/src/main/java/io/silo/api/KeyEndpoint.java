package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyServiceGrpcService;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import io.silo.api.v1.KeyOrigin;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import io.silo.api.v1.TenantCmk;
import io.silo.api.v1.TenantKey;
import io.silo.auth.AccessControl;
import io.silo.keys.TenantCmks;
import io.silo.keys.TenantKeys;
import io.silo.keys.TenantKeys.KeyInfo;
import io.silo.store.KeyAuditStore;
import io.vertx.core.Future;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.util.Date;
import java.util.List;
import org.bson.BsonDocument;

/** gRPC endpoint of silo.v1.KeyService: validates, then delegates to TenantKeys. */
public final class KeyEndpoint {

  private static final String PAGE_KIND = "keys";
  // AWS's own bounds for ScheduleKeyDeletion's PendingWindowInDays.
  private static final int MIN_PENDING_DAYS = 7;
  private static final int MAX_PENDING_DAYS = 30;
  private final TenantKeys keys;
  private final KeyAuditStore audit;
  private final AccessControl access;

  public KeyEndpoint(TenantKeys keys, KeyAuditStore audit, AccessControl access) {
    this.keys = keys;
    this.audit = audit;
    this.access = access;
  }

  public void bind(GrpcServer server) {
    UnaryCalls.bind(server, access, KeyServiceGrpcService.CreateTenantKey, this::create);
    UnaryCalls.bind(server, access, KeyServiceGrpcService.ListTenantKeys, this::list);
    UnaryCalls.bind(server, access, KeyServiceGrpcService.RotateTenantKey, this::rotate);
    UnaryCalls.bind(server, access, KeyServiceGrpcService.ShredTenantKey, this::shred);
    UnaryCalls.bind(server, access, KeyServiceGrpcService.RetireMasterKey, this::retire);
  }

  Future<CreateTenantKeyResponse> create(CreateTenantKeyRequest request, CallContext ctx) {
    try {
      Validation.slug("tenant", request.getTenant());
      ctx.permit("tenant", request.getTenant());
      Validation.idempotencyKey("idempotency_key", request.getIdempotencyKey());
      masterKey("master_key", request.getMasterKey());
      if (request.hasMasterKey() && request.getMasterKey().getProvider().isEmpty()
          && !request.getMasterKey().getDescriptorJson().isEmpty()) {
        throw GrpcErrors.invalidArgument("master_key.provider", "is required when descriptor_json is given");
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    MasterKey mk = request.getMasterKey();
    return keys.create(request.getTenant(), mk.getProvider(), mk.getDescriptorJson(), request.getNewCmk(),
            request.getAllowAfterShred(), ctx.caller())
        .map(created -> {
          CreateTenantKeyResponse.Builder out = CreateTenantKeyResponse.newBuilder()
              .setKey(toProto(created.key())).setCreated(created.created()).setAdopted(created.adopted());
          created.cmk().ifPresent(cmk -> out.setCmk(toProto(cmk)));
          if (created.afterShred()) {
            out.setWarning("a new key was created after the previous one was shredded: data encrypted under the "
                + "shredded key stays unrecoverable");
          }
          return out.build();
        });
  }

  Future<ListTenantKeysResponse> list(ListTenantKeysRequest request, CallContext ctx) {
    int pageSize;
    String after;
    String tenant;
    try {
      if (!request.getTenant().isEmpty()) {
        Validation.slug("tenant", request.getTenant());
      }
      tenant = ctx.narrow("tenant", request.getTenant());
      pageSize = Validation.pageSize("page_size", request.getPageSize());
      // The last alt name of a page: a tenant key's name under the configured template (tenant-<slug> or
      // tenant-<id>), so a forged token cannot smuggle anything else into the query.
      after = Validation.decodePageToken("page_token", PAGE_KIND, request.getPageToken(),
          key -> key.isEmpty() || keys.altNameValue(key)
              .filter(v -> keys.altNamesById() || Validation.SLUG.matcher(v).matches()).isPresent());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return keys.list(tenant, after, pageSize + 1).map(rows -> {
      ListTenantKeysResponse.Builder out = ListTenantKeysResponse.newBuilder();
      List<KeyInfo> page = rows.size() > pageSize ? rows.subList(0, pageSize) : rows;
      page.forEach(k -> out.addKeys(toProto(k)));
      if (rows.size() > pageSize) {
        KeyInfo last = page.get(page.size() - 1);
        out.setNextPageToken(Validation.encodePageToken(PAGE_KIND, last.altNames().isEmpty() ? "" : last.altNames().get(0)));
      }
      return out.build();
    });
  }

  Future<RotateTenantKeyResponse> rotate(RotateTenantKeyRequest request, CallContext ctx) {
    try {
      Validation.slug("tenant", request.getTenant());
      ctx.permit("tenant", request.getTenant());
      Validation.idempotencyKey("idempotency_key", request.getIdempotencyKey());
      if (!request.hasNewMasterKey()) {
        throw GrpcErrors.invalidArgument("new_master_key", "is required");
      }
      masterKey("new_master_key", request.getNewMasterKey());
      if (request.getNewMasterKey().getProvider().isEmpty()) {
        throw GrpcErrors.invalidArgument("new_master_key.provider",
            "is required (a master key without a provider would be silently ignored)");
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    String idem = request.getIdempotencyKey();
    Future<java.util.Optional<String>> seen = idem.isEmpty() ? Future.succeededFuture(java.util.Optional.empty())
        : audit.idempotentResource("RotateTenantKey", idem);
    return seen.compose(previous -> {
      if (previous.isPresent()) {
        // The same rotation was already done: report the key as it is now without rewrapping again.
        if (!previous.get().startsWith(request.getTenant() + "#")) {
          return Future.failedFuture(GrpcErrors.failedPrecondition(
              "idempotency_key was already used for another tenant's rotation"));
        }
        return keys.find(request.getTenant()).map(found -> RotateTenantKeyResponse.newBuilder()
            .setKey(toProto(found.orElseThrow()))
            .setAuditId(Long.parseLong(previous.get().substring(previous.get().indexOf('#') + 1))).build());
      }
      return keys.rotate(request.getTenant(), request.getNewMasterKey().getProvider(),
              request.getNewMasterKey().getDescriptorJson(), request.getNewCmk(), ctx.caller())
          .compose(rotated -> {
            RotateTenantKeyResponse.Builder built = RotateTenantKeyResponse.newBuilder()
                .setKey(toProto(rotated.key()))
                .setPreviousMasterKey(masterKey(rotated.previousProvider(), rotated.previousMasterKey()))
                .setAuditId(rotated.auditId());
            rotated.cmk().ifPresent(cmk -> built.setCmk(toProto(cmk)));
            RotateTenantKeyResponse response = built.build();
            return idem.isEmpty() ? Future.succeededFuture(response)
                : audit.rememberIdempotency("RotateTenantKey", idem, request.getTenant() + "#" + rotated.auditId())
                .map(x -> response);
          });
    });
  }

  Future<ShredTenantKeyResponse> shred(ShredTenantKeyRequest request, CallContext ctx) {
    try {
      Validation.slug("tenant", request.getTenant());
      ctx.permit("tenant", request.getTenant());
      // Checked here so a missing confirmation is a bad request naming the field; TenantKeys checks the match.
      Validation.confirmation("confirm", request.getConfirm());
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return keys.shred(request.getTenant(), request.getConfirm(), ctx.caller())
        .map(shredded -> ShredTenantKeyResponse.newBuilder()
            .setKeyId(shredded.keyId().toString())
            .setAuditId(shredded.auditId())
            .setEffectiveWithinSeconds(keys.keyExpirationSeconds()).build());
  }

  Future<RetireMasterKeyResponse> retire(RetireMasterKeyRequest request, CallContext ctx) {
    try {
      if (ctx.scoped()) {
        // A master key may wrap many tenants' keys, so retiring one is not a single tenant's business.
        throw new StatusException(GrpcStatus.PERMISSION_DENIED, "master_key: a token limited to one tenant may not "
            + "retire a master key, which other tenants' keys may share");
      }
      if (!request.hasMasterKey()) {
        throw GrpcErrors.invalidArgument("master_key", "is required");
      }
      masterKey("master_key", request.getMasterKey());
      if (request.getMasterKey().getProvider().isEmpty()) {
        throw GrpcErrors.invalidArgument("master_key.provider", "is required (an aws provider)");
      }
      int days = request.getPendingWindowDays();
      if (days < MIN_PENDING_DAYS || days > MAX_PENDING_DAYS) {
        throw GrpcErrors.invalidArgument("pending_window_days", "must be " + MIN_PENDING_DAYS + "-" + MAX_PENDING_DAYS
            + " (AWS deletes the key after this grace period); got " + days);
      }
      if (request.getConfirm().isEmpty()) {
        throw GrpcErrors.invalidArgument("confirm", "is required and must equal master_key's key");
      }
      Validation.boundedText("confirm", request.getConfirm(), Validation.MAX_DESCRIPTOR_JSON);
      String key = descriptorKey(request.getMasterKey().getDescriptorJson());
      if (!request.getConfirm().equals(key)) {
        throw GrpcErrors.failedPrecondition("confirm must equal master_key's key '" + key + "' to retire it");
      }
    } catch (StatusException e) {
      return Future.failedFuture(e);
    }
    return keys.retireMasterKey(request.getMasterKey().getProvider(), request.getMasterKey().getDescriptorJson(),
            request.getPendingWindowDays(), ctx.caller())
        .map(retired -> RetireMasterKeyResponse.newBuilder()
            .setKeyArn(retired.arn())
            .setDeletionTime(ts(Date.from(retired.deletionDate())))
            .setAlreadyScheduled(retired.alreadyScheduled())
            .setAuditId(retired.auditId()).build());
  }

  /** The "key" of a descriptor, for the confirmation check; INVALID_ARGUMENT when there is none. */
  private static String descriptorKey(String descriptorJson) throws StatusException {
    try {
      BsonDocument descriptor = BsonDocument.parse(descriptorJson.isBlank() ? "{}" : descriptorJson);
      if (descriptor.get("key") != null && descriptor.get("key").isString()) {
        return descriptor.getString("key").getValue();
      }
    } catch (RuntimeException e) {
      throw GrpcErrors.invalidArgument("master_key.descriptor_json", "is not a JSON object");
    }
    throw GrpcErrors.invalidArgument("master_key.descriptor_json.key", "is required: the AWS KMS key to retire");
  }

  static TenantCmk toProto(TenantCmks.Cmk cmk) {
    return TenantCmk.newBuilder().setKeyArn(cmk.arn()).setAlias(cmk.alias())
        .setProvider(cmk.location().provider()).setRegion(cmk.location().region())
        .setCreated(cmk.outcome() == TenantCmks.Outcome.CREATED)
        .setAdopted(cmk.outcome() == TenantCmks.Outcome.ADOPTED).build();
  }

  /** A master key of a request: provider and descriptor bounded and printable, before they reach the KMS layer. */
  private static void masterKey(String field, MasterKey key) throws StatusException {
    Validation.boundedText(field + ".provider", key.getProvider(), Validation.MAX_PROVIDER);
    Validation.boundedText(field + ".descriptor_json", key.getDescriptorJson(), Validation.MAX_DESCRIPTOR_JSON);
  }

  static TenantKey toProto(KeyInfo key) {
    TenantKey.Builder out = TenantKey.newBuilder()
        .setKeyId(key.keyId() == null ? "" : key.keyId().toString())
        .addAllKeyAltNames(key.altNames())
        .setMasterKey(masterKey(key.provider(), key.masterKey()))
        .setTenant(key.tenant())
        .setOrigin(switch (key.origin()) {
          case CREATED -> KeyOrigin.KEY_ORIGIN_CREATED;
          case ADOPTED -> KeyOrigin.KEY_ORIGIN_ADOPTED;
          case UNMANAGED -> KeyOrigin.KEY_ORIGIN_UNMANAGED;
        });
    if (key.created() != null) {
      out.setCreateTime(ts(key.created()));
    }
    if (key.updated() != null) {
      out.setUpdateTime(ts(key.updated()));
    }
    return out.build();
  }

  private static MasterKey masterKey(String provider, BsonDocument descriptor) {
    return MasterKey.newBuilder().setProvider(provider == null ? "" : provider)
        .setDescriptorJson(descriptor == null || descriptor.isEmpty() ? "" : descriptor.toJson()).build();
  }

  private static Timestamp ts(Date date) {
    long millis = date.getTime();
    return Timestamp.newBuilder().setSeconds(Math.floorDiv(millis, 1000)).setNanos((int) Math.floorMod(millis, 1000) * 1_000_000).build();
  }
}
