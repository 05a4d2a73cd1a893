package io.silo.keys;

import java.util.Optional;
import org.bson.BsonDocument;
import org.bson.BsonValue;

/**
 * Where an AWS KMS call goes: the configured provider ({@code aws} or {@code aws:<name>}, which decides the
 * credentials), the region, and the endpoint override if any. Silo keeps one SDK client per location.
 */
public record AwsLocation(String provider, String region, Optional<AwsEndpoint> endpoint) {

  /** The location a validated aws master key descriptor (region, optional endpoint) points at. */
  public static AwsLocation of(String provider, BsonDocument masterKey) {
    BsonValue endpoint = masterKey.get("endpoint");
    return new AwsLocation(provider, masterKey.getString("region").getValue(),
        endpoint != null && endpoint.isString() ? Optional.of(AwsEndpoint.parse(endpoint.asString().getValue()))
            : Optional.empty());
  }

  @Override
  public String toString() {
    return provider + " in " + region + endpoint.map(e -> " at " + e.hostPort()).orElse("");
  }
}
