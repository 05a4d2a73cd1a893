package io.silo.keys;

import io.silo.SiloException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.async.SdkAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kms.KmsAsyncClient;
import software.amazon.awssdk.services.kms.KmsAsyncClientBuilder;
import software.amazon.awssdk.services.kms.model.AliasListEntry;
import software.amazon.awssdk.services.kms.model.KeyListEntry;
import software.amazon.awssdk.services.kms.model.KeyMetadata;
import software.amazon.awssdk.services.kms.model.NotFoundException;
import software.amazon.awssdk.services.kms.model.ScheduleKeyDeletionResponse;
import software.amazon.awssdk.services.kms.model.Tag;

/**
 * AWS KMS control-plane calls through the AWS SDK (libmongocrypt makes the data-path calls itself): one async client
 * per provider, region and endpoint, each operation under a control-plane budget of its own and retried on throttling
 * the way the data path is. SDK retries are off, so the budget sees every throttle and a CreateKey whose answer was
 * lost is never sent twice.
 */
public final class AwsKms implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(AwsKms.class);

  public static final String DESCRIBE_KEY = "DescribeKey";
  public static final String CREATE_KEY = "CreateKey";
  public static final String CREATE_ALIAS = "CreateAlias";
  public static final String UPDATE_ALIAS = "UpdateAlias";
  public static final String LIST_KEYS = "ListKeys";
  public static final String LIST_ALIASES = "ListAliases";
  public static final String LIST_RESOURCE_TAGS = "ListResourceTags";
  public static final String TAG_RESOURCE = "TagResource";
  public static final String SCHEDULE_KEY_DELETION = "ScheduleKeyDeletion";

  private final Vertx vertx;
  private final WorkerExecutor workers;
  private final KmsProviders providers;
  private final KmsBudgets budgets;
  private final KmsRetry retry;
  private final Map<AwsLocation, KmsAsyncClient> clients = new ConcurrentHashMap<>();
  private volatile SdkAsyncHttpClient http;

  /** @param workers where SDK calls are started (signing may resolve credentials, which can block) */
  public AwsKms(Vertx vertx, WorkerExecutor workers, KmsProviders providers, KmsBudgets budgets,
                KmsRetry.Policy retryPolicy) {
    this.vertx = vertx;
    this.workers = workers;
    this.providers = providers;
    this.budgets = budgets;
    this.retry = new KmsRetry(vertx, retryPolicy);
  }

  /** Whether an operation only reads (it then draws on the read budget, whose quotas AWS sets higher). */
  public static boolean isReadOperation(String operation) {
    return operation.startsWith("Describe") || operation.startsWith("List");
  }

  public KmsProviders providers() {
    return providers;
  }

  /**
   * Runs one control-plane request under the budget of its operation, retrying throttling (and, for everything but
   * CreateKey, an unreachable KMS) as {@link KmsRetry} does. {@code what} names the operation in the final error.
   */
  public <T> Future<T> call(AwsLocation at, String operation, String what,
                            Function<KmsAsyncClient, CompletableFuture<T>> request) {
    KmsBudget budget = budgets.control(at.provider(), at.region(), operation);
    return retry.call(budget, 1, what, () -> send(at, request));
  }

  /** One attempt, no budget and no retry. */
  <T> Future<T> send(AwsLocation at, Function<KmsAsyncClient, CompletableFuture<T>> request) {
    Context context = vertx.getOrCreateContext();
    KmsAsyncClient ready = clients.get(at);
    Future<CompletableFuture<T>> sent;
    if (ready != null && providers.awsProvider(at.provider()).staticCredentials() != null) {
      // Built, and signing with static credentials never blocks: send from here, without a hop that would add its
      // own delay between the budget's permit and the request.
      try {
        sent = Future.succeededFuture(request.apply(ready));
      } catch (RuntimeException e) {
        sent = Future.failedFuture(e);
      }
    } else {
      // On a worker: building a client, and signing with credentials the default chain may have to fetch, can block.
      sent = workers.executeBlocking(() -> request.apply(client(at)), false);
    }
    return sent.compose(pending -> Future.fromCompletionStage(pending, context))
        .recover(failure -> Future.failedFuture(unwrap(failure)));
  }

  /** Completes after {@code delay}, on a Vert.x timer. */
  Future<Void> after(Duration delay) {
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    vertx.setTimer(Math.max(1, delay.toMillis()), id -> done.complete());
    return done.future();
  }

  /**
   * Decrypts a data key's key material under {@code keyId} (one attempt, no budget of its own: the caller holds a
   * permit of the data key's KMS budget, as a libmongocrypt unwrap would, and backs off on a throttle itself).
   */
  public Future<byte[]> decrypt(AwsLocation at, String keyId, byte[] ciphertext) {
    return send(at, client -> client.decrypt(r -> r.keyId(keyId)
            .ciphertextBlob(software.amazon.awssdk.core.SdkBytes.fromByteArray(ciphertext))))
        .map(response -> response.plaintext().asByteArrayUnsafe());
  }

  /** The key a key id, key ARN, alias name or alias ARN names, or empty when there is none in that region. */
  public Future<Optional<KeyMetadata>> describeKey(AwsLocation at, String keyId, String what) {
    return this.<KeyMetadata>call(at, DESCRIBE_KEY, what,
            c -> c.describeKey(b -> b.keyId(keyId)).thenApply(r -> r.keyMetadata()))
        .map(Optional::of)
        .recover(failure -> isNotFound(failure) ? Future.succeededFuture(Optional.empty())
            : Future.failedFuture(failure));
  }

  /** Every key of the account in that region (ListKeys, all pages). */
  public Future<List<KeyListEntry>> listKeys(AwsLocation at, String what) {
    return listKeysFrom(at, what, null, new ArrayList<>());
  }

  private Future<List<KeyListEntry>> listKeysFrom(AwsLocation at, String what, String marker, List<KeyListEntry> out) {
    return call(at, LIST_KEYS, what, c -> c.listKeys(b -> b.limit(1000).marker(marker))).compose(page -> {
      out.addAll(page.keys());
      return Boolean.TRUE.equals(page.truncated()) && page.nextMarker() != null
          ? listKeysFrom(at, what, page.nextMarker(), out) : Future.succeededFuture(out);
    });
  }

  /** The tags of one key (ListResourceTags, all pages). */
  public Future<List<Tag>> listTags(AwsLocation at, String keyId, String what) {
    return listTagsFrom(at, keyId, what, null, new ArrayList<>());
  }

  private Future<List<Tag>> listTagsFrom(AwsLocation at, String keyId, String what, String marker, List<Tag> out) {
    return call(at, LIST_RESOURCE_TAGS, what, c -> c.listResourceTags(b -> b.keyId(keyId).limit(50).marker(marker)))
        .compose(page -> {
          out.addAll(page.tags());
          return Boolean.TRUE.equals(page.truncated()) && page.nextMarker() != null
              ? listTagsFrom(at, keyId, what, page.nextMarker(), out) : Future.succeededFuture(out);
        });
  }

  /** The aliases that point at one key (ListAliases filtered by key). */
  public Future<List<AliasListEntry>> aliasesOf(AwsLocation at, String keyId, String what) {
    return call(at, LIST_ALIASES, what, c -> c.listAliases(b -> b.keyId(keyId).limit(100)))
        .map(page -> page.aliases());
  }

  /** Adds tags to a key (TagResource). */
  public Future<Void> tag(AwsLocation at, String keyId, List<Tag> tags, String what) {
    return call(at, TAG_RESOURCE, what, c -> c.tagResource(b -> b.keyId(keyId).tags(tags))).mapEmpty();
  }

  /** Schedules a key's deletion after {@code pendingWindowDays} (AWS accepts 7-30). */
  public Future<ScheduleKeyDeletionResponse> scheduleDeletion(AwsLocation at, String keyArn, int pendingWindowDays,
                                                              String what) {
    return call(at, SCHEDULE_KEY_DELETION, what,
        c -> c.scheduleKeyDeletion(b -> b.keyId(keyArn).pendingWindowInDays(pendingWindowDays)));
  }

  /** Whether a failure is AWS's NotFoundException (no such key or alias). */
  public static boolean isNotFound(Throwable failure) {
    return failure instanceof NotFoundException;
  }

  /** The AWS error code of a failure the service answered, e.g. "AccessDeniedException"; "" otherwise. */
  public static String errorCode(Throwable failure) {
    if (failure instanceof AwsServiceException aws && aws.awsErrorDetails() != null
        && aws.awsErrorDetails().errorCode() != null) {
      return aws.awsErrorDetails().errorCode();
    }
    return "";
  }

  /** The region of a key or alias ARN ({@code arn:<partition>:kms:<region>:<account>:...}), if it is one. */
  public static Optional<String> arnRegion(String keyId) {
    if (!keyId.startsWith("arn:")) {
      return Optional.empty();
    }
    String[] parts = keyId.split(":", 6);
    return parts.length == 6 && parts[2].equals("kms") && !parts[3].isEmpty() ? Optional.of(parts[3])
        : Optional.empty();
  }

  private KmsAsyncClient client(AwsLocation at) {
    return clients.computeIfAbsent(at, location -> {
      KmsAsyncClientBuilder builder = KmsAsyncClient.builder()
          .region(Region.of(location.region()))
          .credentialsProvider(providers.awsCredentials(location.provider()))
          .httpClient(http())
          .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry())
              .apiCallAttemptTimeout(Duration.ofSeconds(20)));
      location.endpoint().ifPresent(e -> builder.endpointOverride(e.sdkUri()));
      LOG.info("AWS KMS client for {}", location);
      return builder.build();
    });
  }

  // One HTTP client (and Netty event loop group) for every region; its trust store is kms.aws.caFile when set.
  private SdkAsyncHttpClient http() {
    SdkAsyncHttpClient client = http;
    if (client == null) {
      synchronized (this) {
        if (http == null) {
          // Connections kept a minute: control-plane calls come a few a second, and a pool that drops them sooner
          // makes calls wait for new TLS handshakes and then leave together.
          NettyNioAsyncHttpClient.Builder builder = NettyNioAsyncHttpClient.builder().maxConcurrency(64)
              .connectionMaxIdleTime(Duration.ofSeconds(60));
          if (providers.awsTrustManagers() != null) {
            builder.tlsTrustManagersProvider(providers::awsTrustManagers);
          }
          http = builder.build();
        }
        client = http;
      }
    }
    return client;
  }

  private static Throwable unwrap(Throwable failure) {
    Throwable t = failure;
    while (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** A service or client failure as a message for an operator: the AWS error code and message, never credentials. */
  static String describe(Throwable failure) {
    if (failure instanceof AwsServiceException aws && aws.awsErrorDetails() != null) {
      return aws.awsErrorDetails().errorCode() + ": " + aws.awsErrorDetails().errorMessage();
    }
    if (failure instanceof SdkException || failure instanceof SiloException) {
      return failure.getMessage();
    }
    return failure.getClass().getSimpleName();
  }

  /**
   * A control-plane failure as the API should report it: AWS faults (5xx) and no answer are UNAVAILABLE, other AWS
   * refusals (access denied, limits, invalid state) FAILED_PRECONDITION with AWS's code and message; Silo's own
   * failures pass unchanged.
   */
  public static Throwable translate(Throwable failure) {
    if (failure instanceof AwsServiceException aws) {
      if (aws.statusCode() >= 500) {
        return SiloException.unavailable("AWS KMS failed: " + describe(aws) + "; retry later", aws);
      }
      return SiloException.precondition("AWS KMS refused the request: " + describe(aws));
    }
    if (failure instanceof SdkException sdk) {
      return SiloException.unavailable("AWS KMS did not answer: " + sdk.getClass().getSimpleName(), sdk);
    }
    return failure;
  }

  @Override
  public void close() {
    clients.values().forEach(KmsAsyncClient::close);
    clients.clear();
    SdkAsyncHttpClient client = http;
    if (client != null) {
      client.close();
    }
  }
}
