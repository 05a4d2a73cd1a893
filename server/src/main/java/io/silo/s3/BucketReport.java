package io.silo.s3;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/** The per-control outcome of provisioning or checking one bucket, in {@link BucketControl} order. */
public record BucketReport(String bucket, List<ControlResult> controls) {

    public BucketReport {
        Objects.requireNonNull(bucket, "bucket");
        controls = List.copyOf(controls);
    }

    /** The result for {@code control}; every report has one line per control. */
    public ControlResult get(BucketControl control) {
        return byControl().get(control);
    }

    /** The state of {@code control}. */
    public ControlState state(BucketControl control) {
        return get(control).state();
    }

    /** Lines that strict mode refuses (anything but APPLIED_VERIFIED and NOT_CONFIGURED). */
    public List<ControlResult> problems() {
        return controls.stream().filter(c -> !c.state().acceptableInStrictMode()).toList();
    }

    /** Whether strict mode accepts this bucket. */
    public boolean acceptableInStrictMode() {
        return problems().isEmpty();
    }

    /**
     * This read-back judged by what provisioning learnt: a control the endpoint refused as unknown when the bucket
     * was made stays UNSUPPORTED_BY_ENDPOINT whatever its read-back says now (S3Mock answers a GET ?policy with its
     * bucket listing, which would read as a MISMATCH).
     */
    public BucketReport knowingUnsupported(Set<BucketControl> unsupportedAtProvisioning) {
        return new BucketReport(bucket, controls.stream().map(c -> c.state().acceptableInStrictMode()
                || c.state() == ControlState.UNSUPPORTED_BY_ENDPOINT || !unsupportedAtProvisioning.contains(c.control())
                ? c : new ControlResult(c.control(), ControlState.UNSUPPORTED_BY_ENDPOINT,
                "refused as unknown when the bucket was provisioned; reads back: " + c.detail())).toList());
    }

    private Map<BucketControl, ControlResult> byControl() {
        return controls.stream().collect(Collectors.toMap(ControlResult::control, Function.identity()));
    }

    @Override
    public String toString() {
        return bucket + ": " + controls.stream().map(ControlResult::toString).collect(Collectors.joining(", "));
    }
}
