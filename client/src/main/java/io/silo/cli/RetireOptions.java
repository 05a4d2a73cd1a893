package io.silo.cli;

import com.google.protobuf.util.Timestamps;
import io.silo.api.v1.MasterKey;
import io.silo.api.v1.RetireMasterKeyRequest;
import io.silo.api.v1.RetireMasterKeyResponse;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import picocli.CommandLine;

/** What {@code keys retire-cmk} and {@code keys rotate --retire-old-cmk} share: the window check and the call. */
final class RetireOptions {

  // AWS's own bounds for ScheduleKeyDeletion's PendingWindowInDays.
  static final int MIN_DAYS = 7;
  static final int MAX_DAYS = 30;

  private RetireOptions() {}

  /** A usage error, before anything is sent, for a window AWS would refuse. */
  static void checkWindow(CommandLine cmd, int days) {
    if (days < MIN_DAYS || days > MAX_DAYS) {
      throw new CommandLine.ParameterException(cmd, "Invalid value for option '--pending-window-days': " + days
          + " is outside " + MIN_DAYS + "-" + MAX_DAYS + " (AWS deletes the key after this many days)");
    }
  }

  /** Retires {@code masterKey}, confirming with its own "key", which the caller has already chosen to retire. */
  static RetireMasterKeyResponse retire(GrpcConnection connection, MasterKey masterKey, int days) {
    return connection.keys().retireMasterKey(RetireMasterKeyRequest.newBuilder().setMasterKey(masterKey)
        .setPendingWindowDays(days).setConfirm(key(masterKey.getDescriptorJson())).build());
  }

  /** The descriptor's "key", or "" when it names none (the server then says what is missing). */
  static String key(String descriptorJson) {
    try {
      Struct.Builder descriptor = Struct.newBuilder();
      JsonFormat.parser().merge(descriptorJson, descriptor);
      Value key = descriptor.getFieldsMap().get("key");
      return key != null && key.hasStringValue() ? key.getStringValue() : "";
    } catch (Exception e) {
      return "";
    }
  }

  static String describe(RetireMasterKeyResponse retired) {
    return (retired.getAlreadyScheduled() ? "Deletion was already scheduled: AWS KMS key " : "Scheduled the deletion "
        + "of AWS KMS key ") + retired.getKeyArn() + " on " + Timestamps.toString(retired.getDeletionTime())
        + (retired.getAlreadyScheduled() ? "" : " (audit id " + retired.getAuditId() + "; cancel it in AWS KMS "
        + "before then to keep the key)");
  }
}
