package io.silo.s3;

import java.nio.charset.StandardCharsets;

/**
 * The {@code Content-Disposition: attachment} value that makes a download save under the document's original name
 * (RFC 6266): an ASCII {@code filename} for old clients and an RFC 5987 {@code filename*} with the exact UTF-8 name.
 *
 * <p>The name is the user's, not the sanitized key, with three changes: control and format characters are dropped
 * (a U+202E override would make "invoice\u202Efdp.exe" display as "invoiceexe.pdf"), and {@code /} and {@code \}
 * become {@code _}, because browsers treat them as path separators.
 */
public final class ContentDisposition {

  private static final String ATTR_CHAR = "!#$&+-.^_`|~";

  private ContentDisposition() {
  }

  /** The header value for downloading {@code filename} as an attachment. */
  public static String attachment(String filename) {
    String name = displayable(filename);
    if (name.isBlank()) {
      name = "download";
    }
    return "attachment; filename=\"" + asciiFallback(name) + "\"; filename*=UTF-8''" + encode(name);
  }

  private static String displayable(String filename) {
    StringBuilder out = new StringBuilder();
    (filename == null ? "" : filename).codePoints().forEach(cp -> {
      int type = Character.getType(cp);
      if (Character.isISOControl(cp) || type == Character.FORMAT || type == Character.SURROGATE
          || type == Character.LINE_SEPARATOR || type == Character.PARAGRAPH_SEPARATOR) {
        return;
      }
      out.appendCodePoint(cp == '/' || cp == '\\' ? '_' : cp);
    });
    return out.toString().strip();
  }

  /** Printable ASCII without the quoted-string specials; everything else becomes {@code _}. */
  private static String asciiFallback(String name) {
    StringBuilder out = new StringBuilder();
    name.codePoints().forEach(cp -> out.append(cp >= 0x20 && cp < 0x7F && cp != '"' && cp != '%' ? (char) cp : '_'));
    return out.toString();
  }

  /** RFC 5987 value-chars: attr-char as is, every other byte of the UTF-8 form as %XX. */
  private static String encode(String name) {
    StringBuilder out = new StringBuilder();
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xFF;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || ATTR_CHAR.indexOf(c) >= 0) {
        out.append((char) c);
      } else {
        out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 0xF, 16)));
      }
    }
    return out.toString();
  }
}
