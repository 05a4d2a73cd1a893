package io.silo.cli;

import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetDocumentUrlResponse;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.GetUploadUrlResponse;
import java.time.Duration;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code silo url}: a presigned download URL for a migrated document (GetDocumentUrl), or with {@code --upload} a
 * presigned upload URL into the tenant bucket's {@code temp/} (GetUploadUrl). The URL is the first line of output.
 */
@Command(
    name = "url",
    mixinStandardHelpOptions = true,
    description = {
        "Print a time-limited URL for a migrated document in the tenant's own bucket (GET; it downloads under the"
            + " original filename), or with --upload for a new file under temp/ in that bucket (PUT, with the"
            + " headers it must send).",
        "The URL is the first line; anyone holding it can use it until it expires."})
public final class UrlCommand extends SiloCommand {

  @Parameters(index = "0", paramLabel = "TENANT", description = "Tenant slug.")
  String tenant;

  @Parameters(index = "1", arity = "0..1", paramLabel = "DOCUMENT-ID",
      description = "Id of the document in the application's documents table.")
  Long documentId;

  @Option(names = "--expires", paramLabel = "DURATION", converter = DurationConverter.class,
      description = "How long the URL works, 1s to 7d, e.g. 1h (default 15m; never longer than the server's S3"
          + " credentials live).")
  Duration expires;

  @Option(names = "--upload", paramLabel = "NAME", description = "Sign an upload of a file with this name instead.")
  String upload;

  @Override
  protected int execute() {
    if ((documentId == null) == (upload == null)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give either a DOCUMENT-ID (download) or --upload NAME (upload), not " + (upload == null ? "neither" : "both"));
    }
    Printer printer = printer();
    if (upload == null) {
      GetDocumentUrlRequest.Builder request = GetDocumentUrlRequest.newBuilder().setTenant(tenant)
          .setDocumentId(documentId);
      if (expires != null) {
        request.setExpiresIn(proto(expires));
      }
      GetDocumentUrlResponse response = connection().usage().getDocumentUrl(request.build());
      printer.print(response, () -> Table.value(response.getUrl()));
      notes(printer, response.getExpireTime(), response.getBucket(), response.getKey(), response.getNotice());
      return OK;
    }
    GetUploadUrlRequest.Builder request = GetUploadUrlRequest.newBuilder().setTenant(tenant).setFilename(upload);
    if (expires != null) {
      request.setExpiresIn(proto(expires));
    }
    GetUploadUrlResponse response = connection().usage().getUploadUrl(request.build());
    printer.print(response, () -> Table.value(response.getUrl()));
    notes(printer, response.getExpireTime(), response.getBucket(), response.getKey(), response.getNotice());
    StringBuilder curl = new StringBuilder("Upload with: curl -X PUT");
    for (Map.Entry<String, String> header : response.getHeadersMap().entrySet()) {
      printer.note(MigrationText.sanitize("Header " + header.getKey() + ": " + header.getValue()));
      curl.append(" -H '").append(header.getKey()).append(": ").append(header.getValue()).append('\'');
    }
    printer.note(MigrationText.sanitize(curl.append(" --upload-file FILE '<URL>'").toString()));
    return OK;
  }

  private static void notes(Printer printer, com.google.protobuf.Timestamp expireTime, String bucket, String key,
                            String notice) {
    printer.note(MigrationText.sanitize("Expires " + TenantTable.time(expireTime) + "; s3://" + bucket + "/" + key));
    if (!notice.isEmpty()) {
      printer.note(MigrationText.sanitize("Note: " + notice));
    }
  }

  private static com.google.protobuf.Duration proto(Duration d) {
    return com.google.protobuf.Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
  }
}
