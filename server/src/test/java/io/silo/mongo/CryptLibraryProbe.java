package io.silo.mongo;

import java.time.Duration;
import java.util.Map;

import com.mongodb.ClientEncryptionSettings;
import com.mongodb.MongoClientSettings;
import com.mongodb.client.vault.ClientEncryption;
import com.mongodb.client.vault.ClientEncryptions;

/** Child-JVM entry point for {@link CryptLibraryTest}: creates a ClientEncryption one way or another and reports. */
public final class CryptLibraryProbe {

    private CryptLibraryProbe() {
    }

    public static void main(String[] args) {
        Map<String, Map<String, Object>> kms = Map.of("local", Map.of("key", new byte[96]));
        String cs = "mongodb://127.0.0.1:1/?directConnection=true&compressors=";
        try {
            switch (args[0]) {
                case "driver-only" -> rawClientEncryption(cs, kms).close();
                case "silo" -> MongoClientFactory.clientEncryption(cs, "encryption.__keyVault", kms, Duration.ofSeconds(1)).close();
                case "silo-too-late" -> {
                    try {
                        rawClientEncryption(cs, kms).close();
                    } catch (Throwable expected) {
                        // the shadowed library is now bound; Silo must notice
                    }
                    CryptLibrary.ensureBundledLibrary();
                }
                default -> throw new IllegalArgumentException(args[0]);
            }
            System.out.println("PROBE-OK " + CryptLibrary.loadedFrom());
        } catch (Throwable t) {
            System.out.println("PROBE-FAILED " + t.getClass().getName() + ": " + t.getMessage());
        }
    }

    private static ClientEncryption rawClientEncryption(String cs, Map<String, Map<String, Object>> kms) {
        return ClientEncryptions.create(ClientEncryptionSettings.builder()
                .keyVaultMongoClientSettings(MongoClientSettings.builder()
                        .applyConnectionString(new com.mongodb.ConnectionString(cs)).build())
                .keyVaultNamespace("encryption.__keyVault")
                .kmsProviders(kms)
                .build());
    }
}
