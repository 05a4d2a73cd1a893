package io.silo.config;

/** A setting is unknown, missing or invalid; the message names the setting so start-up can fail clearly. */
public final class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }
}
