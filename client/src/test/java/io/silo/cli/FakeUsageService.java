package io.silo.cli;

import com.google.protobuf.Message;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.silo.api.v1.GetDocumentUrlRequest;
import io.silo.api.v1.GetDocumentUrlResponse;
import io.silo.api.v1.GetTenantUsageRequest;
import io.silo.api.v1.GetTenantUsageResponse;
import io.silo.api.v1.GetUploadUrlRequest;
import io.silo.api.v1.GetUploadUrlResponse;
import io.silo.api.v1.ListMigrationStatusRequest;
import io.silo.api.v1.ListMigrationStatusResponse;
import io.silo.api.v1.ListUsageRequest;
import io.silo.api.v1.ListUsageResponse;
import io.silo.api.v1.ReconcileUsageRequest;
import io.silo.api.v1.ReconcileUsageResponse;
import io.silo.api.v1.TenantMigrationStatus;
import io.silo.api.v1.TenantUsage;
import io.silo.api.v1.UsageServiceGrpc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * In-memory UsageService that records every request and answers from what a test put in: usage rows and statuses
 * paged one per page (so the CLI must follow tokens), and scripted URL and reconcile answers.
 */
final class FakeUsageService extends UsageServiceGrpc.UsageServiceImplBase {

  final List<Message> requests = new CopyOnWriteArrayList<>();
  final List<TenantUsage> usage = new CopyOnWriteArrayList<>();
  final List<TenantMigrationStatus> statuses = new CopyOnWriteArrayList<>();
  volatile GetDocumentUrlResponse documentUrl = GetDocumentUrlResponse.getDefaultInstance();
  volatile GetUploadUrlResponse uploadUrl = GetUploadUrlResponse.getDefaultInstance();
  volatile ReconcileUsageResponse reconcile = ReconcileUsageResponse.getDefaultInstance();

  @Override
  public void getTenantUsage(GetTenantUsageRequest req, StreamObserver<GetTenantUsageResponse> out) {
    requests.add(req);
    List<TenantUsage> rows = usage.stream().filter(u -> u.getTenant().equals(req.getTenant())).toList();
    if (rows.isEmpty()) {
      out.onError(Status.NOT_FOUND.withDescription("tenant '" + req.getTenant() + "' not found").asRuntimeException());
      return;
    }
    reply(out, GetTenantUsageResponse.newBuilder().addAllUsage(rows).build());
  }

  @Override
  public void listUsage(ListUsageRequest req, StreamObserver<ListUsageResponse> out) {
    requests.add(req);
    List<TenantUsage> rows = usage.stream().filter(u -> req.getTenant().isEmpty() || u.getTenant()
        .equals(req.getTenant())).toList();
    Page<TenantUsage> page = page(rows, req.getPageToken());
    reply(out, ListUsageResponse.newBuilder().addAllUsage(page.items()).setNextPageToken(page.next()).build());
  }

  @Override
  public void listMigrationStatus(ListMigrationStatusRequest req, StreamObserver<ListMigrationStatusResponse> out) {
    requests.add(req);
    Page<TenantMigrationStatus> page = page(statuses, req.getPageToken());
    reply(out, ListMigrationStatusResponse.newBuilder().addAllStatuses(page.items()).setNextPageToken(page.next())
        .build());
  }

  @Override
  public void getDocumentUrl(GetDocumentUrlRequest req, StreamObserver<GetDocumentUrlResponse> out) {
    answer(req, out, r -> documentUrl);
  }

  @Override
  public void getUploadUrl(GetUploadUrlRequest req, StreamObserver<GetUploadUrlResponse> out) {
    answer(req, out, r -> uploadUrl);
  }

  @Override
  public void reconcileUsage(ReconcileUsageRequest req, StreamObserver<ReconcileUsageResponse> out) {
    answer(req, out, r -> reconcile.toBuilder().setRepaired(!r.getDryRun()).build());
  }

  /** One item per page; the token is the index of the next item. */
  private record Page<T>(List<T> items, String next) {
  }

  private static <T> Page<T> page(List<T> all, String token) {
    int from = token.isEmpty() ? 0 : Integer.parseInt(token.substring("at-".length()));
    List<T> items = new ArrayList<>(all.subList(Math.min(from, all.size()), Math.min(from + 1, all.size())));
    return new Page<>(items, from + 1 < all.size() ? "at-" + (from + 1) : "");
  }

  private <Q extends Message, R> void answer(Q req, StreamObserver<R> out, Function<Q, R> response) {
    requests.add(req);
    reply(out, response.apply(req));
  }

  private static <R> void reply(StreamObserver<R> out, R response) {
    out.onNext(response);
    out.onCompleted();
  }
}
