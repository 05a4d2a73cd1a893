package io.silo.dev.mongo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * Applies {@link BinarySubtypeCodec} to every BSON document inside one complete MongoDB wire-protocol message.
 *
 * <p>Opcodes handled: OP_MSG (both section kinds) and the legacy OP_QUERY / OP_REPLY pair, which the driver still uses for
 * the very first {@code hello}. The legacy pair is translated rather than passed through so the rule "every document that
 * crosses the proxy is translated" has no exception; it costs one scan of a tiny document per connection. Any other opcode
 * is forwarded untouched. OP_COMPRESSED cannot be translated without decompressing, so it is refused
 * ({@link UnsupportedWireMessageException}); the dev server's connection string disables compression and
 * mongo-java-server does not offer any, so a client only sends it if it is misconfigured.
 */
final class WireMessageTranslator {

    static final int HEADER_LENGTH = 16;
    static final int OP_REPLY = 1;
    static final int OP_QUERY = 2004;
    static final int OP_COMPRESSED = 2012;
    static final int OP_MSG = 2013;

    private static final int CHECKSUM_PRESENT = 1;

    private WireMessageTranslator() {
    }

    /** A frame the proxy must not forward. */
    static final class UnsupportedWireMessageException extends RuntimeException {
        UnsupportedWireMessageException(String message) {
            super(message);
        }
    }

    static int opCode(ByteBuf frame) {
        return frame.getIntLE(frame.readerIndex() + 12);
    }

    /**
     * Translates one complete frame. Returns the same buffer (not released, not copied) when nothing changes, otherwise a
     * new buffer; in that case the caller still owns and must release the input.
     */
    static ByteBuf translate(ByteBuf frame, BinarySubtypeCodec.Direction direction, ByteBufAllocator alloc) {
        if (frame.readableBytes() < HEADER_LENGTH) {
            throw new UnsupportedWireMessageException("frame of " + frame.readableBytes() + " bytes is shorter than the header");
        }
        int opCode = opCode(frame);
        return switch (opCode) {
            case OP_MSG -> translateOpMsg(frame, direction, alloc);
            case OP_QUERY -> translateTrailingDocuments(frame, opQueryFirstDocumentOffset(frame), direction, alloc);
            case OP_REPLY -> translateTrailingDocuments(frame, frame.readerIndex() + 36, direction, alloc);
            case OP_COMPRESSED -> throw new UnsupportedWireMessageException(
                    "OP_COMPRESSED received; the Silo dev Mongo proxy cannot translate compressed messages. "
                            + "Disable wire compression (connection string option 'compressors=').");
            default -> frame;
        };
    }

    // ---- OP_MSG -----------------------------------------------------------------------------------------------

    private static ByteBuf translateOpMsg(ByteBuf frame, BinarySubtypeCodec.Direction direction, ByteBufAllocator alloc) {
        int start = frame.readerIndex();
        int end = start + frame.getIntLE(start);
        int flags = frame.getIntLE(start + HEADER_LENGTH);
        boolean checksum = (flags & CHECKSUM_PRESENT) != 0;
        int sectionsEnd = checksum ? end - 4 : end;
        ByteBuffer nio = frame.nioBuffer(start, end - start).order(ByteOrder.LITTLE_ENDIAN);

        // First pass: translate documents, remembering where the sections are. Nothing is copied if nothing changes.
        List<Section> sections = new ArrayList<>(2);
        boolean changed = checksum;
        int pos = HEADER_LENGTH + 4;
        int relEnd = sectionsEnd - start;
        while (pos < relEnd) {
            byte kind = nio.get(pos);
            if (kind == 0) {
                int docLen = nio.getInt(pos + 1);
                if (docLen < 5 || pos + 1 + docLen > relEnd) {
                    throw new UnsupportedWireMessageException("OP_MSG body has invalid length " + docLen);
                }
                Section s = new Section(kind, pos);
                byte[] doc = BinarySubtypeCodec.translateOrNull(nio.position(pos + 1), direction);
                s.add(pos + 1, docLen, doc);
                changed |= doc != null;
                sections.add(s);
                pos += 1 + docLen;
            } else if (kind == 1) {
                int size = nio.getInt(pos + 1);
                int sectionEnd = pos + 1 + size;
                // A malformed size must not move the cursor backwards (endless loop) or past the message.
                if (size < 5 || sectionEnd > relEnd) {
                    throw new UnsupportedWireMessageException("OP_MSG document sequence has invalid size " + size);
                }
                int identEnd = pos + 5;
                while (nio.get(identEnd) != 0) {
                    identEnd++;
                }
                Section s = new Section(kind, pos);
                s.identifierEnd = identEnd + 1;
                int d = identEnd + 1;
                while (d < sectionEnd) {
                    int docLen = nio.getInt(d);
                    if (docLen < 5 || d + docLen > sectionEnd) {
                        throw new UnsupportedWireMessageException("OP_MSG sequence document has invalid length " + docLen);
                    }
                    byte[] doc = BinarySubtypeCodec.translateOrNull(nio.position(d), direction);
                    s.add(d, docLen, doc);
                    changed |= doc != null;
                    d += docLen;
                }
                sections.add(s);
                pos = sectionEnd;
            } else {
                throw new UnsupportedWireMessageException("OP_MSG section kind " + kind + " is not supported");
            }
        }
        if (!changed) {
            return frame;
        }

        // Second pass: re-encode. The checksum is dropped instead of recomputed: it is optional, and over loopback CRC32C
        // protects nothing the TCP checksum does not already.
        ByteBuf out = alloc.buffer(end - start + 64);
        out.writeIntLE(0); // messageLength, patched below
        out.writeBytes(frame, start + 4, 12); // requestID, responseTo, opCode
        out.writeIntLE(flags & ~CHECKSUM_PRESENT);
        for (Section s : sections) {
            out.writeByte(s.kind);
            if (s.kind == 0) {
                writeDoc(out, frame, start, s.docOffsets[0], s.docLengths[0], s.docs[0]);
            } else {
                int sizeIndex = out.writerIndex();
                out.writeIntLE(0);
                out.writeBytes(frame, start + s.begin + 5, s.identifierEnd - s.begin - 5);
                for (int i = 0; i < s.count; i++) {
                    writeDoc(out, frame, start, s.docOffsets[i], s.docLengths[i], s.docs[i]);
                }
                out.setIntLE(sizeIndex, out.writerIndex() - sizeIndex);
            }
        }
        out.setIntLE(0, out.writerIndex());
        return out;
    }

    private static void writeDoc(ByteBuf out, ByteBuf frame, int frameStart, int offset, int length, byte[] rewritten) {
        if (rewritten != null) {
            out.writeBytes(rewritten);
        } else {
            out.writeBytes(frame, frameStart + offset, length);
        }
    }

    /** Positions are relative to the frame start. */
    private static final class Section {
        final byte kind;
        final int begin;
        int identifierEnd;
        int count;
        int[] docOffsets = new int[1];
        int[] docLengths = new int[1];
        byte[][] docs = new byte[1][];

        Section(byte kind, int begin) {
            this.kind = kind;
            this.begin = begin;
        }

        void add(int offset, int length, byte[] rewritten) {
            if (count == docOffsets.length) {
                int n = count * 2;
                docOffsets = java.util.Arrays.copyOf(docOffsets, n);
                docLengths = java.util.Arrays.copyOf(docLengths, n);
                docs = java.util.Arrays.copyOf(docs, n);
            }
            docOffsets[count] = offset;
            docLengths[count] = length;
            docs[count] = rewritten;
            count++;
        }
    }

    // ---- legacy OP_QUERY / OP_REPLY ---------------------------------------------------------------------------

    private static int opQueryFirstDocumentOffset(ByteBuf frame) {
        int p = frame.readerIndex() + HEADER_LENGTH + 4; // flags
        while (frame.getByte(p) != 0) { // fullCollectionName
            p++;
        }
        return p + 1 + 8; // NUL, numberToSkip, numberToReturn
    }

    /** For messages whose tail, from {@code firstDoc} to the end, is a plain concatenation of documents. */
    private static ByteBuf translateTrailingDocuments(ByteBuf frame, int firstDoc, BinarySubtypeCodec.Direction direction,
                                                      ByteBufAllocator alloc) {
        int start = frame.readerIndex();
        int end = start + frame.getIntLE(start);
        ByteBuffer nio = frame.nioBuffer(start, end - start).order(ByteOrder.LITTLE_ENDIAN);
        List<byte[]> rewritten = null;
        int d = firstDoc - start;
        int index = 0;
        while (d < end - start) {
            int docLen = nio.getInt(d);
            if (docLen < 5 || d + docLen > end - start) {
                throw new UnsupportedWireMessageException("document has invalid length " + docLen);
            }
            byte[] doc = BinarySubtypeCodec.translateOrNull(nio.position(d), direction);
            if (doc != null) {
                if (rewritten == null) {
                    rewritten = new ArrayList<>();
                }
                while (rewritten.size() < index) {
                    rewritten.add(null);
                }
                rewritten.add(doc);
            }
            d += docLen;
            index++;
        }
        if (rewritten == null) {
            return frame;
        }
        ByteBuf out = alloc.buffer(end - start + 64);
        out.writeBytes(frame, start, firstDoc - start);
        d = firstDoc - start;
        for (int i = 0; i < index; i++) {
            int len = nio.getInt(d);
            byte[] doc = i < rewritten.size() ? rewritten.get(i) : null;
            writeDoc(out, frame, start, d, len, doc);
            d += len;
        }
        out.setIntLE(0, out.writerIndex());
        return out;
    }
}
