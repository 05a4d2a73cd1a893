package io.silo.auth;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.silo.store.AuditStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the audit trail of calls: every call of an RPC {@link RpcPolicy#audited} names, whatever its outcome, and
 * every refused call of any RPC. Rows are written after the answer, off the event loop's critical path: a slow or
 * failing PostgreSQL never delays or fails a call; a row that cannot be written is logged and counted
 * ({@code silo_audit_write_failures_total}, {@code silo_audit_dropped_total}).
 */
public final class AuditTrail {

  private static final Logger LOG = LoggerFactory.getLogger(AuditTrail.class);

  /** Outcomes that make any call a refused one, and so audited. */
  static final Set<String> REFUSED = Set.of("UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT",
      "RESOURCE_EXHAUSTED");

  /**
   * Rows being written at once. Beyond this (a flood of refused calls, or PostgreSQL stalled) rows are dropped and
   * counted rather than queued without bound in memory or in front of the pool the calls themselves need.
   */
  static final int MAX_IN_FLIGHT = 128;

  private static final int MAX_TEXT = 1200;
  private static final int MAX_TENANT = 64;
  private static final int MAX_TENANTS = 20;
  private static final long DROP_LOG_EVERY = 100;

  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicLong droppedSinceStart = new AtomicLong();
  private final Map<String, Descriptor> requestTypes = new HashMap<>();
  private volatile AuditStore store;
  private Counter failures;
  private Counter dropped;

  /** Starts writing to {@code store}; until then nothing is recorded (nothing is served before either). */
  public synchronized void attach(AuditStore store, MeterRegistry registry, List<ServiceDescriptor> services) {
    for (ServiceDescriptor service : services) {
      for (MethodDescriptor method : service.getMethods()) {
        requestTypes.put(service.getFullName() + "/" + method.getName(), method.getInputType());
      }
    }
    this.failures = Counter.builder("silo_audit_write_failures").description(
        "Audit rows that PostgreSQL did not accept; the call itself was answered").register(registry);
    this.dropped = Counter.builder("silo_audit_dropped").description(
        "Audit rows not written because " + MAX_IN_FLIGHT + " were already being written").register(registry);
    this.store = store;
  }

  /** Whether a call of {@code rpc} that ended with {@code outcome} (a gRPC status code name) is audited. */
  public static boolean audited(String rpc, String outcome) {
    return REFUSED.contains(outcome) || RpcPolicy.audited(rpc);
  }

  /**
   * Records one call if it is {@link #audited}. {@code request} is the request message's protobuf bytes (null when
   * none arrived); its digest is stored, and the tenant and migration it names are read from it.
   */
  public void record(String rpc, String caller, String peer, byte[] request, String outcome, String message) {
    AuditStore target = store;
    if (target == null || !audited(rpc, outcome)) {
      return;
    }
    if (inFlight.incrementAndGet() > MAX_IN_FLIGHT) {
      inFlight.decrementAndGet();
      dropped.increment();
      if (droppedSinceStart.getAndIncrement() % DROP_LOG_EVERY == 0) {
        LOG.warn("audit rows are being dropped: {} are being written already (rpc {}, outcome {}, caller {})",
            MAX_IN_FLIGHT, rpc, outcome, caller);
      }
      return;
    }
    Named named = named(rpc, request);
    AuditStore.Call call = new AuditStore.Call(OffsetDateTime.now(ZoneOffset.UTC), clean(caller, MAX_TEXT), clean(peer, MAX_TEXT), clean(rpc, MAX_TEXT),
        named.tenant(), named.migrationId(), request == null ? null : sha256(request), outcome,
        clean(message, MAX_TEXT));
    target.append(call).onComplete(done -> {
      inFlight.decrementAndGet();
      if (done.failed()) {
        failures.increment();
        LOG.warn("audit row not written (rpc {}, outcome {}, caller {}): {}", call.rpc(), outcome, call.caller(),
            done.cause().toString());
      }
    });
  }

  /** The tenant(s) and migration a request names, read through its descriptor, whatever the service. */
  private record Named(String tenant, UUID migrationId) {
  }

  private Named named(String rpc, byte[] request) {
    Descriptor type;
    synchronized (this) {
      type = requestTypes.get(rpc);
    }
    if (type == null || request == null) {
      return new Named(null, null);
    }
    DynamicMessage message;
    try {
      message = DynamicMessage.parseFrom(type, request);
    } catch (InvalidProtocolBufferException e) {
      return new Named(null, null);
    }
    List<String> tenants = new ArrayList<>();
    for (String name : List.of("tenant", "slug", "tenants")) {
      FieldDescriptor field = type.findFieldByName(name);
      if (field == null || field.getJavaType() != FieldDescriptor.JavaType.STRING) {
        continue;
      }
      if (field.isRepeated()) {
        for (int i = 0; i < Math.min(message.getRepeatedFieldCount(field), MAX_TENANTS); i++) {
          tenants.add(clean((String) message.getRepeatedField(field, i), MAX_TENANT));
        }
      } else if (!((String) message.getField(field)).isEmpty()) {
        tenants.add(clean((String) message.getField(field), MAX_TENANT));
      }
    }
    UUID migration = null;
    FieldDescriptor id = type.findFieldByName("migration_id");
    if (id != null && id.getJavaType() == FieldDescriptor.JavaType.STRING) {
      try {
        migration = UUID.fromString(((String) message.getField(id)).trim());
      } catch (IllegalArgumentException notAnId) {
        // A malformed id names no migration; the refusal message says what was wrong with it.
      }
    }
    return new Named(tenants.isEmpty() ? null : String.join(",", tenants), migration);
  }

  /**
   * Text as PostgreSQL can store it and a reader can trust it: without NUL and other control characters (which a
   * hostile request may carry into a refusal message), cut to {@code max} characters.
   */
  static String clean(String text, int max) {
    if (text == null) {
      return null;
    }
    StringBuilder out = new StringBuilder(Math.min(text.length(), max));
    for (int i = 0; i < text.length() && out.length() < max; i++) {
      char c = text.charAt(i);
      out.append(Character.isISOControl(c) ? '?' : c);
    }
    if (out.length() > 0 && Character.isHighSurrogate(out.charAt(out.length() - 1))) {
      out.setLength(out.length() - 1);
    }
    return out.toString();
  }

  /** Hex SHA-256 of {@code bytes}. */
  public static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /** How a refused caller is named when no principal is known: never the token, only a short hash of it. */
  static String unknownCaller(String authorization) {
    if (authorization == null || authorization.isBlank()) {
      return "anonymous";
    }
    return "invalid-token:" + sha256(authorization.trim().getBytes(StandardCharsets.UTF_8)).substring(0, 12);
  }
}
