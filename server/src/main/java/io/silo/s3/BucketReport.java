package io.silo.s3;

import java.util.List;
import java.util.Map;
import java.util.Objects;
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

    private Map<BucketControl, ControlResult> byControl() {
        return controls.stream().collect(Collectors.toMap(ControlResult::control, Function.identity()));
    }

    @Override
    public String toString() {
        return bucket + ": " + controls.stream().map(ControlResult::toString).collect(Collectors.joining(", "));
    }
}
