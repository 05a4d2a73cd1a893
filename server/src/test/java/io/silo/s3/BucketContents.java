package io.silo.s3;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.ListObjectVersionsResponse;

/** Reads a bucket back for assertions: its keys, versions per key and objects' bytes, straight from the endpoint. */
public final class BucketContents {

    private BucketContents() {
    }

    /** The names of every bucket the endpoint lists. */
    static List<String> buckets(S3AsyncClient s3) throws Exception {
        return s3.listBuckets().get(60, TimeUnit.SECONDS).buckets().stream().map(b -> b.name()).toList();
    }

    static byte[] get(S3AsyncClient s3, String bucket, String key) throws Exception {
        return s3.getObject(b -> b.bucket(bucket).key(key), AsyncResponseTransformer.toBytes())
                .get(60, TimeUnit.SECONDS).asByteArray();
    }

    /** Every key in {@code bucket}. */
    static List<String> keys(S3AsyncClient s3, String bucket) throws Exception {
        List<String> keys = new ArrayList<>();
        String token = null;
        do {
            String t = token;
            var page = s3.listObjectsV2(b -> b.bucket(bucket).continuationToken(t)).get(60, TimeUnit.SECONDS);
            page.contents().forEach(o -> keys.add(o.key()));
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null);
        return keys;
    }

    /** Versions (and delete markers) per key in {@code bucket}. */
    static Map<String, Integer> versions(S3AsyncClient s3, String bucket) throws Exception {
        Map<String, Integer> count = new HashMap<>();
        for (ListObjectVersionsResponse page : versionPages(s3, bucket)) {
            page.versions().forEach(o -> count.merge(o.key(), 1, Integer::sum));
            page.deleteMarkers().forEach(o -> count.merge(o.key(), 1, Integer::sum));
        }
        return count;
    }

    /** Every page of ListObjectVersions of {@code bucket}, in order. */
    public static List<ListObjectVersionsResponse> versionPages(S3AsyncClient s3, String bucket) throws Exception {
        List<ListObjectVersionsResponse> pages = new ArrayList<>();
        String keyMarker = null;
        String versionMarker = null;
        ListObjectVersionsResponse page;
        do {
            String k = keyMarker;
            String v = versionMarker;
            page = s3.listObjectVersions(b -> b.bucket(bucket).keyMarker(k).versionIdMarker(v)).get(60, TimeUnit.SECONDS);
            pages.add(page);
            keyMarker = page.nextKeyMarker();
            versionMarker = page.nextVersionIdMarker();
        } while (Boolean.TRUE.equals(page.isTruncated()));
        return pages;
    }
}
