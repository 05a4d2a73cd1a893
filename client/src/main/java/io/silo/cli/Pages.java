package io.silo.cli;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;

/** Follows next_page_token through a paged list, one call (with its own deadline) per page. */
final class Pages {

  private Pages() {}

  /**
   * Fetches the page of {@code first}, then each next one until a page has no token, handing every page to
   * {@code onPage}. A server that hands back a token it already gave would loop forever, so that is an error.
   */
  static <P> void each(String first, Function<String, P> fetch, Function<P, String> next, Consumer<P> onPage) {
    Set<String> seen = new HashSet<>();
    String token = first;
    do {
      if (!seen.add(token)) {
        throw io.grpc.Status.INTERNAL
            .withDescription("server repeated page token '" + token + "'; stopping to avoid an endless loop")
            .asRuntimeException();
      }
      P page = fetch.apply(token);
      onPage.accept(page);
      token = next.apply(page);
    } while (!token.isEmpty());
  }
}
