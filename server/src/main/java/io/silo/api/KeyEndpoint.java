package io.silo.api;

import com.google.protobuf.Timestamp;
import io.silo.api.v1.CreateTenantKeyRequest;
import io.silo.api.v1.CreateTenantKeyResponse;
import io.silo.api.v1.KeyServiceGrpcService;
import io.silo.api.v1.ListTenantKeysRequest;
import io.silo.api.v1.ListTenantKeysResponse;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RotateTenantKeyRequest;
import io.silo.api.v1.RotateTenantKeyResponse;
import io.silo.api.v1.ShredTenantKeyRequest;
import io.silo.api.v1.ShredTenantKeyResponse;
import io.silo.api.v1.TenantKey;
import io.silo.auth.AccessControl;
import io.silo.keys.TenantKeys;
import io.silo.keys.TenantKeys.KeyInfo;
import io.silo.store.KeyAuditStore;
import io.vertx.core.Future;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.StatusException;
import java.util.Date;
import java.util.List;
import org.bson.BsonDocument;

/** gRPC endpoint of silo.v1.KeyService: validates, then delegates to TenantKeys. */
public final class KeyEndpoint {

  private static final String PAGE_KIND = "keys";
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
    return keys.create(request.getTenant(), mk.getProvider(), mk.getDescriptorJson(), request.getAllowAfterShred(),
            ctx.caller())
        .map(created -> {
          CreateTenantKeyResponse.Builder out = CreateTenantKeyResponse.newBuilder()
              .setKey(toProto(created.key())).setCreated(created.created());
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
      after = Validation.decodePageToken("page_token", PAGE_KIND, request.getPageToken(),
          key -> key.isEmpty() || (key.startsWith("tenant-")
              && Validation.SLUG.matcher(key.substring("tenant-".length())).matches()));
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
              request.getNewMasterKey().getDescriptorJson(), ctx.caller())
          .compose(rotated -> {
            RotateTenantKeyResponse response = RotateTenantKeyResponse.newBuilder()
                .setKey(toProto(rotated.key()))
                .setPreviousMasterKey(masterKey(rotated.previousProvider(), rotated.previousMasterKey()))
                .setAuditId(rotated.auditId()).build();
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
        .setTenant(key.tenant());
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
