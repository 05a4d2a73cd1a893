package io.silo.keys;

import com.mongodb.MongoClientException;
import com.mongodb.MongoSocketException;
import com.mongodb.MongoTimeoutException;
import java.io.IOException;
import java.util.Locale;
import java.util.regex.Pattern;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkServiceException;

/**
 * Classifies failures of KMS-touching calls (createDataKey, rewrap, encrypt or decrypt with a DEK that must be
 * unwrapped) for retry decisions, and reports throttling to the shared {@link KmsBudget}. Any code that calls a KMS
 * through libmongocrypt or the AWS SDK (key operations, the copy pipeline) should use these, so that every
 * throttle slows the whole process down.
 */
public final class KmsErrors {

  private KmsErrors() {
  }

  // libmongocrypt formats KMS failures as "HTTP status=<code>" followed by the response body; the AWS body of a
  // throttled call names ThrottlingException and says "Rate exceeded". Other KMSs answer 429 or 503.
  private static final Pattern THROTTLE_TEXT = Pattern.compile(
      "HTTP status\\s*=?\\s*(429|503)\\b|\\bThrottlingException\\b|\\bThrottling\\b|TooManyRequests|Rate exceeded|"
          + "\\b(429|503) (Too Many Requests|Service Unavailable)\\b");

  /**
   * Whether an error (or any of its causes) is a KMS throttling answer: the AWS SDK's throttling exceptions, HTTP 429
   * or 503, and libmongocrypt's KMS errors, which the driver surfaces as {@code MongoClientException} /
   * {@code MongoCryptException} with text like {@code "Error in KMS response. HTTP status=400. Response body=
   * {"__type":"ThrottlingException",...}"}.
   */
  public static boolean isThrottling(Throwable error) {
    int depth = 0;
    for (Throwable t = error; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof SdkServiceException sdk) {
        if (sdk.isThrottlingException() || sdk.statusCode() == 429 || sdk.statusCode() == 503) {
          return true;
        }
      }
      String type = t.getClass().getSimpleName();
      if (type.equals("ThrottlingException") || type.equals("TooManyRequestsException")) {
        return true;
      }
      String message = t.getMessage();
      if (message != null && THROTTLE_TEXT.matcher(message).find()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether an error from the driver or libmongocrypt says the KMS could not be reached (connection refused, timeout,
   * TLS or network failure): worth a few quick retries, unlike a refused key or a bad descriptor.
   */
  public static boolean isUnreachable(Throwable error) {
    int depth = 0;
    for (Throwable t = error; t != null && depth < 16; t = t.getCause(), depth++) {
      // The driver's own socket and server-selection timeouts are about MongoDB (the key vault), not the KMS.
      if (t instanceof MongoSocketException || t instanceof MongoTimeoutException) {
        return false;
      }
      // The SDK reports a KMS it could not reach, or a connection that broke, as a client exception over an I/O
      // error; a service exception means the KMS answered.
      if (t instanceof SdkClientException && (hasIoCause(t) || neverSent(t))) {
        return true;
      }
      if (t instanceof MongoClientException || t.getClass().getName().contains("MongoCrypt")) {
        String text = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
        if (text.contains("connect") || text.contains("timed out") || text.contains("timeout")
            || text.contains("unreachable") || text.contains("refused") || text.contains("ssl")
            || text.contains("tls") || text.contains("kms request failed") || text.contains("network")) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Whether an AWS SDK client failure happened before the request left: no connection (refused, TLS handshake) or
   * none free in the SDK's pool. Only such a CreateKey may be sent again, as it cannot have made a key.
   */
  public static boolean neverSent(Throwable failure) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof java.net.ConnectException || t instanceof javax.net.ssl.SSLHandshakeException
          || String.valueOf(t.getMessage()).contains("Acquire operation took longer")) {
        return true;
      }
    }
    return false;
  }

  private static boolean hasIoCause(Throwable error) {
    int depth = 0;
    for (Throwable t = error; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof IOException || t instanceof java.util.concurrent.TimeoutException
          || t.getClass().getSimpleName().contains("Timeout")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Reports {@code error} to {@code budget} when it is throttling, which cuts the budget's rate (AIMD) for every
   * caller of that provider and region; returns whether it was throttling. Call it for every failed KMS-touching call.
   */
  public static boolean reportThrottling(KmsBudget budget, Throwable error) {
    if (!isThrottling(error)) {
      return false;
    }
    budget.onThrottled();
    return true;
  }
}
