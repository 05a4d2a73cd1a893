package io.silo.s3;

import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** Reads SDK failures: the S3 status and error code, and whether a retry can heal them. */
public final class S3Errors {

    private static final Set<String> THROTTLE_CODES = Set.of("SlowDown", "Throttling", "ThrottlingException",
            "TooManyRequests", "RequestLimitExceeded", "KMS.ThrottlingException");
    private static final Set<String> RETRY_CODES = Set.of("RequestTimeout", "InternalError", "ServiceUnavailable",
            "OperationAborted");

    private S3Errors() {
    }

    /** The failure under CompletableFuture's wrappers. */
    public static Throwable unwrap(Throwable t) {
        Throwable e = t;
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** The HTTP status of an S3 error answer, or 0 when there was no answer (network, client side). */
    public static int status(Throwable t) {
        return unwrap(t) instanceof S3Exception s ? s.statusCode() : 0;
    }

    /** The S3 error code (NoSuchKey, AccessDenied, ...), or the exception's simple name when there is none. */
    public static String code(Throwable t) {
        Throwable e = unwrap(t);
        if (e instanceof S3Exception s && s.awsErrorDetails() != null && s.awsErrorDetails().errorCode() != null) {
            return s.awsErrorDetails().errorCode();
        }
        if (e instanceof S3Exception s) {
            return "Http" + s.statusCode();
        }
        return e.getClass().getSimpleName();
    }

    public static boolean notFound(Throwable t) {
        return status(t) == 404;
    }

    /** S3 asked for fewer requests: the window shrinks. */
    public static boolean throttled(Throwable t) {
        int status = status(t);
        return status == 503 || status == 429 || THROTTLE_CODES.contains(code(t));
    }

    /**
     * Whether another attempt may succeed: throttling, 5xx, request timeouts, and anything that failed before an
     * answer arrived (connection reset or refused, a truncated response).
     */
    public static boolean retryable(Throwable t) {
        Throwable e = unwrap(t);
        if (e instanceof S3Exception s) {
            return s.statusCode() >= 500 || throttled(e) || RETRY_CODES.contains(code(e));
        }
        return e instanceof SdkClientException || e instanceof java.io.IOException
                || e instanceof java.util.concurrent.TimeoutException;
    }

    /** A one-line description without request ids or anything from the object's content. */
    public static String describe(Throwable t) {
        Throwable e = unwrap(t);
        if (e instanceof S3Exception s) {
            String message = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorMessage();
            return "HTTP " + s.statusCode() + " " + code(e) + (message == null || message.isBlank() ? "" : ": " + message);
        }
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }
}
