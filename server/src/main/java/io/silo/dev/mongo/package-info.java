/**
 * Silo's embedded MongoDB-wire dev server: mongo-java-server behind a translating proxy that keeps every BSON binary
 * subtype (CSFLE ciphertext is subtype 6, key ids are UUID subtype 4) byte for byte.
 *
 * <p>Use {@link io.silo.dev.mongo.DevMongoServer#start} and hand {@link io.silo.dev.mongo.DevMongoServer#connectionString()}
 * to {@link io.silo.mongo.MongoClientFactory}. Known limits of the stand-in, so code tested here must not depend on them:
 * <ul>
 *   <li>no partial indexes (create the key vault's {@code keyAltNames} index unique and <em>sparse</em>);</li>
 *   <li>no wire compression, authentication, TLS, transactions or change streams worth relying on;</li>
 *   <li>with a data directory, writes are committed by H2's MVStore every second and on {@code close()}, so a killed
 *       process can lose the last second of writes;</li>
 *   <li>the in-memory backend holds documents as Java objects: fine for 30k docs, give the JVM heap for 1M.</li>
 * </ul>
 * Production uses a real MongoDB 4.2 or later.
 */
package io.silo.dev.mongo;
