package io.silo.dev.mongo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import org.bson.BsonBinary;
import org.bson.BsonBinaryReader;
import org.bson.BsonBinaryWriter;
import org.bson.BsonType;
import org.bson.io.BasicOutputBuffer;

/**
 * Rewrites the binary values of one BSON document so that mongo-java-server, which only keeps subtype 0, stores them losslessly.
 *
 * <p>mongo-java-server rejects subtype 6 (CSFLE ciphertext) and silently turns every other subtype into 0. Towards the
 * backend, every binary with subtype {@code s != 0} becomes subtype 0 with data {@code MAGIC || s || data}; towards the
 * client the inverse is applied. A genuine subtype-0 binary that happens to start with {@link #MAGIC} is wrapped as well
 * ({@code MAGIC || 0x00 || data}), which makes the mapping a bijection: whatever a client writes, it reads back byte for
 * byte, and equal values stay equal on the server, so equality queries on deterministic ciphertext keep matching.
 *
 * <p>Ordering is (almost) preserved too: BSON orders binaries by (length, subtype, bytes); wrapped values all get the same
 * 9 extra bytes, so among wrapped values the order is unchanged. Only the relative order of plain subtype-0 values versus
 * wrapped ones differs, which no Silo query relies on.
 *
 * <p>Byte-exactness holds for well-formed BSON as the driver and the server produce it. Values are re-encoded through
 * org.bson, which would normalise three things real peers never send: array keys that are not "0","1",..., regex options
 * that are not sorted, and strings that are not valid UTF-8.
 *
 * <p>Each call is linear in the document size. A read-only scan runs first so that documents without anything to
 * rewrite (the vast majority of traffic) are forwarded without copying.
 */
public final class BinarySubtypeCodec {

    /** Which way a document travels through the proxy. */
    public enum Direction {
        /** Client to mongo-java-server: wrap non-zero subtypes. */
        TO_BACKEND,
        /** mongo-java-server to client: unwrap. */
        TO_CLIENT
    }

    /**
     * Prefix of a wrapped binary. Chosen to be unlikely in real data (leading NUL, ASCII tag, trailing 0xFF); a collision is
     * still handled correctly, see the class comment.
     */
    static final byte[] MAGIC = {0x00, 'S', 'i', 'l', 'o', 'B', 'i', 'n', 's', 't', (byte) 0xFF};

    private BinarySubtypeCodec() {
    }

    /**
     * Translates the document that starts at {@code doc.position()}; returns {@code null} if nothing in it needs to change.
     * The buffer's position and limit are not modified.
     */
    public static byte[] translateOrNull(ByteBuffer doc, Direction direction) {
        ByteBuffer view = doc.slice().order(ByteOrder.LITTLE_ENDIAN);
        int length = view.getInt(0);
        view.limit(length);
        if (!needsRewrite(view.duplicate().order(ByteOrder.LITTLE_ENDIAN), direction)) {
            return null;
        }
        return rewrite(view.duplicate().order(ByteOrder.LITTLE_ENDIAN), direction, length);
    }

    /** Translates a whole document, always returning a fresh array (convenience for tests and tools). */
    public static byte[] translate(byte[] doc, Direction direction) {
        byte[] out = translateOrNull(ByteBuffer.wrap(doc), direction);
        return out != null ? out : Arrays.copyOf(doc, doc.length);
    }

    // ---- scan -------------------------------------------------------------------------------------------------

    private static boolean needsRewrite(ByteBuffer doc, Direction direction) {
        try (BsonBinaryReader reader = new BsonBinaryReader(doc)) {
            reader.readStartDocument();
            return scanBody(reader, direction);
        }
    }

    private static boolean scanBody(BsonBinaryReader reader, Direction direction) {
        while (reader.readBsonType() != BsonType.END_OF_DOCUMENT) {
            if (reader.getState() == org.bson.AbstractBsonReader.State.NAME) {
                reader.skipName();
            }
            switch (reader.getCurrentBsonType()) {
                case DOCUMENT -> {
                    reader.readStartDocument();
                    if (scanBody(reader, direction)) {
                        return true;
                    }
                    reader.readEndDocument();
                }
                case ARRAY -> {
                    reader.readStartArray();
                    if (scanBody(reader, direction)) {
                        return true;
                    }
                    reader.readEndArray();
                }
                case JAVASCRIPT_WITH_SCOPE -> {
                    reader.readJavaScriptWithScope();
                    reader.readStartDocument();
                    if (scanBody(reader, direction)) {
                        return true;
                    }
                    reader.readEndDocument();
                }
                case BINARY -> {
                    byte subtype = reader.peekBinarySubType();
                    if (direction == Direction.TO_BACKEND && subtype != 0) {
                        return true;
                    }
                    // Only subtype-0 values at least as long as the prefix can be (or collide with) a wrapped value.
                    if (subtype == 0 && reader.peekBinarySize() >= MAGIC.length + (direction == Direction.TO_CLIENT ? 1 : 0)) {
                        if (hasMagic(reader.readBinaryData().getData())) {
                            return true;
                        }
                    } else {
                        reader.skipValue();
                    }
                }
                default -> reader.skipValue();
            }
        }
        return false;
    }

    // ---- rewrite ----------------------------------------------------------------------------------------------

    private static byte[] rewrite(ByteBuffer doc, Direction direction, int sizeHint) {
        BasicOutputBuffer out = new BasicOutputBuffer(sizeHint + 64);
        try (BsonBinaryReader reader = new BsonBinaryReader(doc); BsonBinaryWriter writer = new BsonBinaryWriter(out)) {
            reader.readStartDocument();
            writer.writeStartDocument();
            copyBody(reader, writer, direction);
            reader.readEndDocument();
            writer.writeEndDocument();
        }
        return out.toByteArray();
    }

    private static void copyBody(BsonBinaryReader reader, BsonBinaryWriter writer, Direction direction) {
        while (reader.readBsonType() != BsonType.END_OF_DOCUMENT) {
            // In arrays the writer generates the index keys itself and refuses explicit names.
            if (reader.getState() == org.bson.AbstractBsonReader.State.NAME) {
                writer.writeName(reader.readName());
            }
            BsonType type = reader.getCurrentBsonType();
            switch (type) {
                case DOUBLE -> writer.writeDouble(reader.readDouble());
                case STRING -> writer.writeString(reader.readString());
                case DOCUMENT -> {
                    reader.readStartDocument();
                    writer.writeStartDocument();
                    copyBody(reader, writer, direction);
                    reader.readEndDocument();
                    writer.writeEndDocument();
                }
                case ARRAY -> {
                    reader.readStartArray();
                    writer.writeStartArray();
                    copyBody(reader, writer, direction);
                    reader.readEndArray();
                    writer.writeEndArray();
                }
                case BINARY -> writer.writeBinaryData(translateBinary(reader.readBinaryData(), direction));
                case UNDEFINED -> {
                    reader.readUndefined();
                    writer.writeUndefined();
                }
                case OBJECT_ID -> writer.writeObjectId(reader.readObjectId());
                case BOOLEAN -> writer.writeBoolean(reader.readBoolean());
                case DATE_TIME -> writer.writeDateTime(reader.readDateTime());
                case NULL -> {
                    reader.readNull();
                    writer.writeNull();
                }
                case REGULAR_EXPRESSION -> writer.writeRegularExpression(reader.readRegularExpression());
                case DB_POINTER -> writer.writeDBPointer(reader.readDBPointer());
                case JAVASCRIPT -> writer.writeJavaScript(reader.readJavaScript());
                case SYMBOL -> writer.writeSymbol(reader.readSymbol());
                case JAVASCRIPT_WITH_SCOPE -> {
                    writer.writeJavaScriptWithScope(reader.readJavaScriptWithScope());
                    reader.readStartDocument();
                    writer.writeStartDocument();
                    copyBody(reader, writer, direction);
                    reader.readEndDocument();
                    writer.writeEndDocument();
                }
                case INT32 -> writer.writeInt32(reader.readInt32());
                case TIMESTAMP -> writer.writeTimestamp(reader.readTimestamp());
                case INT64 -> writer.writeInt64(reader.readInt64());
                case DECIMAL128 -> writer.writeDecimal128(reader.readDecimal128());
                case MIN_KEY -> {
                    reader.readMinKey();
                    writer.writeMinKey();
                }
                case MAX_KEY -> {
                    reader.readMaxKey();
                    writer.writeMaxKey();
                }
                default -> throw new IllegalArgumentException("Unsupported BSON type " + type);
            }
        }
    }

    /** Wraps or unwraps a single binary value; visible for tests. */
    static BsonBinary translateBinary(BsonBinary value, Direction direction) {
        byte subtype = value.getType();
        byte[] data = value.getData();
        if (direction == Direction.TO_BACKEND) {
            if (subtype == 0 && !hasMagic(data)) {
                return value;
            }
            byte[] wrapped = new byte[MAGIC.length + 1 + data.length];
            System.arraycopy(MAGIC, 0, wrapped, 0, MAGIC.length);
            wrapped[MAGIC.length] = subtype;
            System.arraycopy(data, 0, wrapped, MAGIC.length + 1, data.length);
            return new BsonBinary((byte) 0, wrapped);
        }
        if (subtype != 0 || data.length < MAGIC.length + 1 || !hasMagic(data)) {
            return value;
        }
        return new BsonBinary(data[MAGIC.length], Arrays.copyOfRange(data, MAGIC.length + 1, data.length));
    }

    private static boolean hasMagic(byte[] data) {
        return data.length >= MAGIC.length && Arrays.equals(data, 0, MAGIC.length, MAGIC, 0, MAGIC.length);
    }
}
