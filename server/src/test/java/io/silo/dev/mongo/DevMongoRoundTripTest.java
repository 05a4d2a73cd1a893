package io.silo.dev.mongo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.mongodb.MongoWriteException;
import com.mongodb.client.model.Filters;
import com.mongodb.client.model.IndexOptions;
import com.mongodb.client.model.Indexes;
import com.mongodb.client.model.vault.DataKeyOptions;
import com.mongodb.client.model.vault.EncryptOptions;
import com.mongodb.reactivestreams.client.MongoClient;
import com.mongodb.reactivestreams.client.MongoCollection;
import com.mongodb.reactivestreams.client.vault.ClientEncryption;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.silo.mongo.MongoClientFactory;
import org.bson.BsonArray;
import org.bson.BsonBinary;
import org.bson.BsonBinaryReader;
import org.bson.BsonBinaryWriter;
import org.bson.BsonBoolean;
import org.bson.BsonDateTime;
import org.bson.BsonDbPointer;
import org.bson.BsonDecimal128;
import org.bson.BsonDocument;
import org.bson.BsonDouble;
import org.bson.BsonInt32;
import org.bson.BsonInt64;
import org.bson.BsonJavaScript;
import org.bson.BsonJavaScriptWithScope;
import org.bson.BsonMaxKey;
import org.bson.BsonMinKey;
import org.bson.BsonNull;
import org.bson.BsonObjectId;
import org.bson.BsonRegularExpression;
import org.bson.BsonString;
import org.bson.BsonSymbol;
import org.bson.BsonTimestamp;
import org.bson.BsonUndefined;
import org.bson.BsonValue;
import org.bson.codecs.BsonDocumentCodec;
import org.bson.codecs.DecoderContext;
import org.bson.codecs.EncoderContext;
import org.bson.io.BasicOutputBuffer;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DevMongoRoundTripTest {

    private static final String KEY_VAULT = "encryption.__keyVault";
    private static final String DETERMINISTIC = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic";
    private static final String RANDOM = "AEAD_AES_256_CBC_HMAC_SHA_512-Random";
    private static final String SSN = "123-45-6789";
    private static final String NOTES = "allergic to penicillin";
    private static final Duration BLOCK = Duration.ofSeconds(30);

    private DevMongoServer dev;
    private Map<String, Map<String, Object>> kmsProviders;
    private MongoClient plain;
    private MongoClient autoDecrypting;
    private ClientEncryption encryption;
    private BsonBinary dataKeyId;
    private BsonBinary ssnCiphertext;
    private BsonBinary notesCiphertext;

    @BeforeAll
    void startDevServerCreateKeyAndInsertPatient() {
        dev = DevMongoServer.start(null, "127.0.0.1", 0);
        byte[] masterKey = new byte[96];
        new SecureRandom().nextBytes(masterKey);
        kmsProviders = Map.of("local", Map.of("key", masterKey));
        plain = MongoClientFactory.reactive(dev.connectionString());

        // Sparse, not partial ({partialFilterExpression: {keyAltNames: {$exists: true}}} as MongoDB documents it):
        // mongo-java-server does not enforce partial indexes, but a sparse one still lets many keys have no alt name.
        block(keyVault().createIndex(Indexes.ascending("keyAltNames"), new IndexOptions().unique(true).sparse(true)));

        encryption = MongoClientFactory.clientEncryption(dev.connectionString(), KEY_VAULT, kmsProviders, Duration.ofSeconds(1));
        dataKeyId = block(encryption.createDataKey("local", new DataKeyOptions().keyAltNames(List.of("tenant-acme"))));
        ssnCiphertext = encryptDeterministic(SSN);
        notesCiphertext = block(encryption.encrypt(new BsonString(NOTES), new EncryptOptions(RANDOM).keyAltName("tenant-acme")));

        block(patients().insertMany(List.of(
                new BsonDocument("_id", new BsonString("p1")).append("name", new BsonString("Alice"))
                        .append("ssn", ssnCiphertext).append("notes", notesCiphertext),
                new BsonDocument("_id", new BsonString("p2")).append("name", new BsonString("Bob"))
                        .append("ssn", encryptDeterministic("987-65-4321")))));

        autoDecrypting = MongoClientFactory.autoDecrypting(dev.connectionString(), KEY_VAULT, kmsProviders, Duration.ofSeconds(1));
    }

    @AfterAll
    void stop() {
        if (autoDecrypting != null) autoDecrypting.close();
        if (encryption != null) encryption.close();
        if (plain != null) plain.close();
        if (dev != null) dev.close();
    }

    // ---- through the dev server -------------------------------------------------------------------------------

    @Test
    void plainClientReadsBackExactlyTheSubtype6BytesClientEncryptionReturned() {
        assertThat(ssnCiphertext.getType()).isEqualTo((byte) 6);
        BsonDocument stored = block(patients().find(Filters.eq("_id", "p1")).first());

        assertThat(stored.get("ssn").isBinary()).isTrue();
        assertThat(stored.getBinary("ssn").getType()).isEqualTo((byte) 6);
        assertThat(stored.getBinary("ssn").getData()).isEqualTo(ssnCiphertext.getData());
        assertThat(stored.getBinary("notes").getType()).isEqualTo((byte) 6);
        assertThat(stored.getBinary("notes").getData()).isEqualTo(notesCiphertext.getData());
        assertThat(stored.getString("name").getValue()).isEqualTo("Alice");
    }

    @Test
    void autoDecryptingClientReadsThePlaintext() {
        BsonDocument decrypted = block(autoDecrypting.getDatabase("medical").getCollection("patients", BsonDocument.class)
                .find(Filters.eq("_id", "p1")).first());

        assertThat(decrypted.get("ssn")).isEqualTo(new BsonString(SSN));
        assertThat(decrypted.get("notes")).isEqualTo(new BsonString(NOTES));
    }

    @Test
    void equalityQueryOnDeterministicCiphertextFindsExactlyThatDocument() {
        BsonBinary query = encryptDeterministic(SSN);
        assertThat(query.getData()).isEqualTo(ssnCiphertext.getData());

        List<BsonDocument> hits = Flux.from(patients().find(Filters.eq("ssn", query))).collectList().block(BLOCK);
        assertThat(hits).extracting(d -> d.getString("_id").getValue()).containsExactly("p1");

        List<BsonDocument> misses = Flux.from(patients().find(Filters.eq("ssn", encryptDeterministic("000-00-0000"))))
                .collectList().block(BLOCK);
        assertThat(misses).isEmpty();
    }

    @Test
    void randomAlgorithmFieldRoundTripsAndDecrypts() {
        BsonBinary again = block(encryption.encrypt(new BsonString(NOTES), new EncryptOptions(RANDOM).keyId(dataKeyId)));
        assertThat(again.getData()).isNotEqualTo(notesCiphertext.getData());

        BsonDocument stored = block(patients().find(Filters.eq("_id", "p1")).first());
        assertThat(block(encryption.decrypt(stored.getBinary("notes")))).isEqualTo(new BsonString(NOTES));
    }

    @Test
    void keyVaultDocumentIdComesBackAsUuidSubtype4() {
        BsonDocument key = block(keyVault().find(Filters.eq("keyAltNames", "tenant-acme")).first());

        assertThat(key.getBinary("_id").getType()).isEqualTo((byte) 4);
        assertThat(key.getBinary("_id")).isEqualTo(dataKeyId);
        assertThat(block(encryption.getKeyByAltName("tenant-acme")).getBinary("_id")).isEqualTo(dataKeyId);
    }

    @Test
    void uniqueSparseKeyAltNamesIndexRejectsADuplicateAltNameButAllowsKeysWithout() {
        assertThatThrownBy(() -> block(encryption.createDataKey("local", new DataKeyOptions().keyAltNames(List.of("tenant-acme")))))
                .hasStackTraceContaining("duplicate key");

        BsonBinary a = block(encryption.createDataKey("local", new DataKeyOptions()));
        BsonBinary b = block(encryption.createDataKey("local", new DataKeyOptions()));
        assertThat(a).isNotEqualTo(b);
    }

    @Test
    void backendStoresCiphertextAsTaggedSubtype0() {
        String direct = "mongodb://127.0.0.1:" + dev.backendAddress().getPort() + "/?directConnection=true&compressors=";
        try (com.mongodb.client.MongoClient raw = MongoClientFactory.sync(direct)) {
            BsonDocument stored = raw.getDatabase("medical").getCollection("patients", BsonDocument.class)
                    .find(Filters.eq("_id", "p1")).first();
            BsonBinary ssn = stored.getBinary("ssn");
            assertThat(ssn.getType()).isEqualTo((byte) 0);
            assertThat(Arrays.copyOf(ssn.getData(), BinarySubtypeCodec.MAGIC.length)).isEqualTo(BinarySubtypeCodec.MAGIC);
            assertThat(ssn.getData()[BinarySubtypeCodec.MAGIC.length]).isEqualTo((byte) 6);
        }
    }

    @Test
    void subtype0ValueThatLooksWrappedStillRoundTripsUnchanged() {
        byte[] tricky = concat(BinarySubtypeCodec.MAGIC, new byte[] {6, 1, 2, 3});
        MongoCollection<BsonDocument> c = plain.getDatabase("medical").getCollection("tricky", BsonDocument.class);
        block(c.insertOne(new BsonDocument("_id", new BsonInt32(1)).append("b", new BsonBinary(tricky))));

        BsonDocument back = block(c.find(Filters.eq("b", new BsonBinary(tricky))).first());
        assertThat(back.getBinary("b").getType()).isEqualTo((byte) 0);
        assertThat(back.getBinary("b").getData()).isEqualTo(tricky);
    }

    @Test
    void proxyCarriesThirtyThousandDocumentsWithCiphertext() {
        MongoCollection<BsonDocument> bulk = plain.getDatabase("medical").getCollection("bulk", BsonDocument.class);
        int n = 30_000;
        List<BsonDocument> docs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            byte[] fake = new byte[66];
            fake[0] = (byte) i;
            fake[1] = (byte) (i >> 8);
            docs.add(new BsonDocument("_id", new BsonInt32(i)).append("tenant", new BsonString("acme"))
                    .append("ssn", new BsonBinary((byte) 6, fake)));
        }
        long t0 = System.nanoTime();
        block(bulk.insertMany(docs));
        long t1 = System.nanoTime();
        List<BsonDocument> all = Flux.from(bulk.find().batchSize(5_000)).collectList().block(Duration.ofMinutes(2));
        long t2 = System.nanoTime();

        assertThat(all).hasSize(n);
        assertThat(all).allSatisfy(d -> assertThat(d.getBinary("ssn").getType()).isEqualTo((byte) 6));
        System.out.printf("MEASURED insertMany %d docs through proxy: %.0f docs/s; find all: %.0f docs/s%n",
                n, n / ((t1 - t0) / 1e9), n / ((t2 - t1) / 1e9));
    }

    @Test
    void dataDirectoryKeepsKeysCiphertextAndIndexesAcrossRestart(@TempDir Path dataDir) {
        byte[] ciphertext;
        long t0 = System.nanoTime();
        try (DevMongoServer first = DevMongoServer.start(dataDir, "127.0.0.1", 0);
             MongoClient client = MongoClientFactory.reactive(first.connectionString());
             ClientEncryption enc = MongoClientFactory.clientEncryption(first.connectionString(), KEY_VAULT, kmsProviders, null)) {
            System.out.printf("MEASURED DevMongoServer.start (H2, new dir): %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            block(client.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class)
                    .createIndex(Indexes.ascending("keyAltNames"), new IndexOptions().unique(true).sparse(true)));
            block(enc.createDataKey("local", new DataKeyOptions().keyAltNames(List.of("tenant-acme"))));
            BsonBinary ssn = block(enc.encrypt(new BsonString(SSN), new EncryptOptions(DETERMINISTIC).keyAltName("tenant-acme")));
            ciphertext = ssn.getData();
            block(client.getDatabase("medical").getCollection("patients", BsonDocument.class)
                    .insertOne(new BsonDocument("_id", new BsonString("p1")).append("ssn", ssn)));
        }

        long t1 = System.nanoTime();
        try (DevMongoServer second = DevMongoServer.start(dataDir, "127.0.0.1", 0)) {
            long startMillis = (System.nanoTime() - t1) / 1_000_000;
            System.out.printf("MEASURED DevMongoServer.start (H2, reopen): %d ms%n", startMillis);
            assertThat(startMillis).isLessThan(1_000);
            try (MongoClient client = MongoClientFactory.reactive(second.connectionString());
                 MongoClient decrypting = MongoClientFactory.autoDecrypting(second.connectionString(), KEY_VAULT, kmsProviders, null);
                 ClientEncryption enc = MongoClientFactory.clientEncryption(second.connectionString(), KEY_VAULT, kmsProviders, null)) {
                BsonDocument back = block(client.getDatabase("medical").getCollection("patients", BsonDocument.class)
                        .find(Filters.eq("_id", "p1")).first());
                assertThat(back).isNotNull();
                assertThat(back.getBinary("ssn").getType()).isEqualTo((byte) 6);
                assertThat(back.getBinary("ssn").getData()).isEqualTo(ciphertext);

                BsonDocument plaintext = block(decrypting.getDatabase("medical").getCollection("patients", BsonDocument.class)
                        .find(Filters.eq("_id", "p1")).first());
                assertThat(plaintext.get("ssn")).isEqualTo(new BsonString(SSN));

                assertThatThrownBy(() -> block(enc.createDataKey("local", new DataKeyOptions().keyAltNames(List.of("tenant-acme")))))
                        .as("the unique keyAltNames index survived the restart")
                        .hasStackTraceContaining("duplicate key");
            }
        }
    }

    @Test
    void manyConnectionsEncryptAndInsertConcurrently() {
        MongoCollection<BsonDocument> coll = plain.getDatabase("medical").getCollection("concurrent", BsonDocument.class);
        int n = 2_000;
        long t0 = System.nanoTime();
        Flux.range(0, n)
                .flatMap(i -> Mono.from(encryption.encrypt(new BsonString("ssn-" + i),
                                new EncryptOptions(DETERMINISTIC).keyAltName("tenant-acme")))
                        .flatMap(c -> Mono.from(coll.insertOne(new BsonDocument("_id", new BsonInt32(i)).append("ssn", c)))), 64)
                .blockLast(Duration.ofMinutes(2));
        System.out.printf("MEASURED %d encrypt+insertOne with 64 in flight: %.0f docs/s%n", n, n / ((System.nanoTime() - t0) / 1e9));

        assertThat(block(coll.countDocuments())).isEqualTo(n);
        for (int i : new int[] {0, 777, n - 1}) {
            BsonDocument hit = block(coll.find(Filters.eq("ssn", encryptDeterministic("ssn-" + i))).first());
            assertThat(hit.getInt32("_id").getValue()).isEqualTo(i);
        }
    }

    @Test
    void largeDocumentWithMegabytesOfCiphertextRoundTrips() {
        byte[] big = new byte[8 * 1024 * 1024];
        new Random(7).nextBytes(big);
        MongoCollection<BsonDocument> coll = plain.getDatabase("medical").getCollection("large", BsonDocument.class);
        block(coll.insertOne(new BsonDocument("_id", new BsonInt32(1)).append("blob", new BsonBinary((byte) 6, big))));

        BsonDocument back = block(coll.find().first());
        assertThat(back.getBinary("blob").getType()).isEqualTo((byte) 6);
        assertThat(Arrays.equals(back.getBinary("blob").getData(), big)).isTrue();
    }

    // ---- the translator on its own ----------------------------------------------------------------------------

    @Test
    void translatorRoundTripsEveryBinarySubtypeAndBsonTypeByteExact() {
        BsonDocument doc = everyTypeDocument();
        byte[] original = encode(doc);

        byte[] toBackend = BinarySubtypeCodec.translate(original, BinarySubtypeCodec.Direction.TO_BACKEND);
        assertThat(toBackend).isNotEqualTo(original);
        assertThat(binarySubtypes(decode(toBackend))).containsOnly((byte) 0);

        byte[] back = BinarySubtypeCodec.translate(toBackend, BinarySubtypeCodec.Direction.TO_CLIENT);
        assertThat(back).isEqualTo(original);
        assertThat(binarySubtypes(decode(back))).contains((byte) 0, (byte) 1, (byte) 2, (byte) 3, (byte) 4, (byte) 5,
                (byte) 6, (byte) 7, (byte) 8, (byte) 0x80);
    }

    @Test
    void translatorRoundTripsRandomNestedDocumentsByteExact() {
        Random random = new Random(42);
        int rewritten = 0;
        for (int i = 0; i < 500; i++) {
            byte[] original = encode(randomDocument(random, 0));
            byte[] toBackend = BinarySubtypeCodec.translate(original, BinarySubtypeCodec.Direction.TO_BACKEND);
            rewritten += Arrays.equals(original, toBackend) ? 0 : 1;
            assertThat(binarySubtypes(decode(toBackend))).allSatisfy(t -> assertThat(t).isEqualTo((byte) 0));
            assertThat(BinarySubtypeCodec.translate(toBackend, BinarySubtypeCodec.Direction.TO_CLIENT)).isEqualTo(original);
        }
        assertThat(rewritten).as("documents that needed wrapping").isGreaterThan(200);
    }

    @Test
    void documentsWithoutNonZeroSubtypesAreNotCopied() {
        byte[] plainDoc = encode(new BsonDocument("a", new BsonBinary(new byte[] {1, 2, 3}))
                .append("n", new BsonArray(List.of(new BsonDocument("x", new BsonInt64(7))))));
        assertThat(BinarySubtypeCodec.translateOrNull(ByteBuffer.wrap(plainDoc), BinarySubtypeCodec.Direction.TO_BACKEND)).isNull();
        assertThat(BinarySubtypeCodec.translateOrNull(ByteBuffer.wrap(plainDoc), BinarySubtypeCodec.Direction.TO_CLIENT)).isNull();
    }

    @Test
    void opMsgWithBodyAndDocumentSequenceIsTranslatedAndChecksumDropped() {
        BsonDocument body = new BsonDocument("insert", new BsonString("patients")).append("$db", new BsonString("medical"))
                .append("lsid", new BsonDocument("id", new BsonBinary((byte) 4, new byte[16])));
        List<BsonDocument> seq = List.of(
                new BsonDocument("_id", new BsonInt32(1)).append("ssn", new BsonBinary((byte) 6, new byte[] {9, 9})),
                new BsonDocument("_id", new BsonInt32(2)).append("plain", new BsonString("x")),
                new BsonDocument("_id", new BsonInt32(3)).append("deep",
                        new BsonArray(List.of(new BsonBinary((byte) 0x80, new byte[] {1})))));
        byte[] withChecksum = opMsg(true, body, "documents", seq);
        byte[] withoutChecksum = opMsg(false, body, "documents", seq);

        byte[] toBackend = translateFrame(withChecksum, BinarySubtypeCodec.Direction.TO_BACKEND);
        ByteBuffer b = ByteBuffer.wrap(toBackend).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(b.getInt(0)).isEqualTo(toBackend.length);
        assertThat(b.getInt(12)).isEqualTo(WireMessageTranslator.OP_MSG);
        assertThat(b.getInt(16) & 1).as("checksumPresent").isZero();
        assertThat(toBackend.length).isEqualTo(withoutChecksum.length + 3 * (BinarySubtypeCodec.MAGIC.length + 1));

        assertThat(translateFrame(toBackend, BinarySubtypeCodec.Direction.TO_CLIENT)).isEqualTo(withoutChecksum);
        ByteBuf unchanged = io.netty.buffer.Unpooled.wrappedBuffer(withoutChecksum);
        assertThat(WireMessageTranslator.translate(unchanged, BinarySubtypeCodec.Direction.TO_CLIENT, ByteBufAllocator.DEFAULT))
                .isSameAs(unchanged);
    }

    @Test
    void opReplyDocumentsAreTranslatedAndOpCompressedIsRefused() {
        byte[] doc = encode(new BsonDocument("ok", new BsonDouble(1)).append("id", new BsonBinary((byte) 4, new byte[16])));
        ByteBuffer reply = ByteBuffer.allocate(36 + doc.length).order(ByteOrder.LITTLE_ENDIAN);
        reply.putInt(36 + doc.length).putInt(5).putInt(4).putInt(WireMessageTranslator.OP_REPLY)
                .putInt(8).putLong(0).putInt(0).putInt(1).put(doc);
        byte[] original = reply.array();
        byte[] toBackend = translateFrame(original, BinarySubtypeCodec.Direction.TO_BACKEND);
        assertThat(toBackend.length).isEqualTo(original.length + BinarySubtypeCodec.MAGIC.length + 1);
        assertThat(translateFrame(toBackend, BinarySubtypeCodec.Direction.TO_CLIENT)).isEqualTo(original);

        byte[] compressed = ByteBuffer.allocate(25).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(25).putInt(1).putInt(0).putInt(WireMessageTranslator.OP_COMPRESSED)
                .putInt(WireMessageTranslator.OP_MSG).putInt(0).put((byte) 0).array();
        assertThatThrownBy(() -> translateFrame(compressed, BinarySubtypeCodec.Direction.TO_BACKEND))
                .isInstanceOf(WireMessageTranslator.UnsupportedWireMessageException.class)
                .hasMessageContaining("OP_COMPRESSED");
    }

    @Test
    void malformedDocumentSequenceSizeIsRejectedInsteadOfLooping() {
        byte[] frame = opMsg(false, new BsonDocument("ping", new BsonInt32(1)), "documents",
                List.of(new BsonDocument("a", new BsonBinary((byte) 6, new byte[] {1}))));
        int seqSizeOffset = 16 + 4 + 1 + encode(new BsonDocument("ping", new BsonInt32(1))).length + 1;
        ByteBuffer.wrap(frame).order(ByteOrder.LITTLE_ENDIAN).putInt(seqSizeOffset, -40);

        assertThatThrownBy(() -> translateFrame(frame, BinarySubtypeCodec.Direction.TO_BACKEND))
                .isInstanceOf(WireMessageTranslator.UnsupportedWireMessageException.class)
                .hasMessageContaining("invalid size");
    }

    @Test
    void proxyClosesTheConnectionWhenAClientSendsOpCompressed() throws Exception {
        byte[] compressed = ByteBuffer.allocate(25).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(25).putInt(1).putInt(0).putInt(WireMessageTranslator.OP_COMPRESSED)
                .putInt(WireMessageTranslator.OP_MSG).putInt(0).put((byte) 0).array();
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", dev.port())) {
            socket.setSoTimeout(5_000);
            socket.getOutputStream().write(compressed);
            socket.getOutputStream().flush();
            assertThat(socket.getInputStream().read()).as("EOF, no reply").isEqualTo(-1);
        }
        // The proxy as a whole keeps serving other connections.
        assertThat(block(patients().countDocuments())).isEqualTo(2);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private MongoCollection<BsonDocument> patients() {
        return plain.getDatabase("medical").getCollection("patients", BsonDocument.class);
    }

    private MongoCollection<BsonDocument> keyVault() {
        return plain.getDatabase("encryption").getCollection("__keyVault", BsonDocument.class);
    }

    private BsonBinary encryptDeterministic(String value) {
        return block(encryption.encrypt(new BsonString(value), new EncryptOptions(DETERMINISTIC).keyAltName("tenant-acme")));
    }

    private static <T> T block(org.reactivestreams.Publisher<T> publisher) {
        return Mono.from(publisher).block(BLOCK);
    }

    private static byte[] translateFrame(byte[] frame, BinarySubtypeCodec.Direction direction) {
        ByteBuf in = io.netty.buffer.Unpooled.wrappedBuffer(frame);
        ByteBuf out = WireMessageTranslator.translate(in, direction, ByteBufAllocator.DEFAULT);
        return ByteBufUtil.getBytes(out);
    }

    private static byte[] opMsg(boolean checksum, BsonDocument body, String identifier, List<BsonDocument> sequence) {
        byte[] bodyBytes = encode(body);
        List<byte[]> docs = sequence.stream().map(DevMongoRoundTripTest::encode).toList();
        byte[] ident = (identifier + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int seqSize = 4 + ident.length + docs.stream().mapToInt(d -> d.length).sum();
        int length = 16 + 4 + 1 + bodyBytes.length + 1 + seqSize + (checksum ? 4 : 0);
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(length).putInt(77).putInt(0).putInt(WireMessageTranslator.OP_MSG);
        b.putInt(checksum ? 1 : 0);
        b.put((byte) 0).put(bodyBytes);
        b.put((byte) 1).putInt(seqSize).put(ident);
        docs.forEach(b::put);
        if (checksum) {
            b.putInt(0xCAFEBABE);
        }
        return b.array();
    }

    private static BsonDocument everyTypeDocument() {
        BsonArray binaries = new BsonArray();
        for (int subtype : new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 0x80}) {
            binaries.add(new BsonBinary((byte) subtype, new byte[] {(byte) subtype, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
        }
        return new BsonDocument("_id", new BsonObjectId(new ObjectId()))
                .append("double", new BsonDouble(-0.0))
                .append("string", new BsonString("grüße"))
                .append("binaries", binaries)
                .append("empty6", new BsonBinary((byte) 6, new byte[0]))
                .append("lookalike", new BsonBinary(concat(BinarySubtypeCodec.MAGIC, new byte[] {4, 42})))
                .append("magicOnly", new BsonBinary(BinarySubtypeCodec.MAGIC.clone()))
                .append("nested", new BsonDocument("a", new BsonArray(List.of(
                        new BsonDocument("deep", new BsonBinary((byte) 6, new byte[] {7})),
                        new BsonArray(List.of(new BsonBinary((byte) 4, new byte[16]), BsonNull.VALUE))))))
                .append("undefined", new BsonUndefined())
                .append("bool", BsonBoolean.TRUE)
                .append("date", new BsonDateTime(1_700_000_000_000L))
                .append("null", BsonNull.VALUE)
                .append("regex", new BsonRegularExpression("^a.*", "im"))
                .append("dbPointer", new BsonDbPointer("db.coll", new ObjectId()))
                .append("js", new BsonJavaScript("function() {}"))
                .append("symbol", new BsonSymbol("sym"))
                .append("jsScope", new BsonJavaScriptWithScope("f()", new BsonDocument("k", new BsonBinary((byte) 6, new byte[] {1}))))
                .append("int32", new BsonInt32(-5))
                .append("timestamp", new BsonTimestamp(7, 9))
                .append("int64", new BsonInt64(Long.MIN_VALUE))
                .append("decimal", new BsonDecimal128(Decimal128.parse("3.14159")))
                .append("min", new BsonMinKey())
                .append("max", new BsonMaxKey());
    }

    private static BsonValue randomValue(Random r, int depth) {
        int pick = r.nextInt(depth < 4 ? 8 : 6);
        return switch (pick) {
            case 0, 1, 2 -> {
                int[] subtypes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0x91};
                byte[] data = new byte[r.nextInt(40)];
                r.nextBytes(data);
                if (r.nextInt(10) == 0) {
                    data = concat(BinarySubtypeCodec.MAGIC, data);
                }
                yield new BsonBinary((byte) subtypes[r.nextInt(subtypes.length)], data);
            }
            case 3 -> new BsonString("s" + r.nextInt());
            case 4 -> new BsonInt64(r.nextLong());
            case 5 -> new BsonDouble(r.nextDouble());
            case 6 -> randomDocument(r, depth + 1);
            default -> {
                BsonArray a = new BsonArray();
                for (int i = r.nextInt(5); i > 0; i--) {
                    a.add(randomValue(r, depth + 1));
                }
                yield a;
            }
        };
    }

    private static BsonDocument randomDocument(Random r, int depth) {
        BsonDocument d = new BsonDocument();
        for (int i = r.nextInt(6); i >= 0; i--) {
            d.append("f" + i + "_" + r.nextInt(100), randomValue(r, depth));
        }
        return d;
    }

    private static List<Byte> binarySubtypes(BsonValue value) {
        List<Byte> out = new ArrayList<>();
        collectSubtypes(value, out);
        return out;
    }

    private static void collectSubtypes(BsonValue value, List<Byte> out) {
        if (value.isBinary()) {
            out.add(value.asBinary().getType());
        } else if (value.isDocument()) {
            value.asDocument().values().forEach(v -> collectSubtypes(v, out));
        } else if (value.isArray()) {
            value.asArray().forEach(v -> collectSubtypes(v, out));
        } else if (value.isJavaScriptWithScope()) {
            collectSubtypes(value.asJavaScriptWithScope().getScope(), out);
        }
    }

    static byte[] encode(BsonDocument doc) {
        BasicOutputBuffer out = new BasicOutputBuffer();
        new BsonDocumentCodec().encode(new BsonBinaryWriter(out), doc, EncoderContext.builder().build());
        return out.toByteArray();
    }

    private static BsonDocument decode(byte[] bytes) {
        return new BsonDocumentCodec().decode(new BsonBinaryReader(ByteBuffer.wrap(bytes)), DecoderContext.builder().build());
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
