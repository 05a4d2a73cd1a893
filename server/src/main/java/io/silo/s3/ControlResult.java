package io.silo.s3;

import java.util.Objects;

/** One line of a {@link BucketReport}: a control, its state and a human-readable detail (never a secret). */
public record ControlResult(BucketControl control, ControlState state, String detail) {

    public ControlResult {
        Objects.requireNonNull(control, "control");
        Objects.requireNonNull(state, "state");
        detail = detail == null ? "" : detail;
    }

    @Override
    public String toString() {
        return control + "=" + state + (detail.isEmpty() ? "" : " (" + detail + ")");
    }
}
