package io.silo.dev;

import org.apache.catalina.connector.Connector;
import org.springframework.boot.web.embedded.tomcat.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * Spring configuration that {@link DevS3} adds to S3Mock's context so S3Mock's plain-HTTP connector listens only
 * on the dev stack's host.
 *
 * <p>S3Mock creates that connector itself with just a port, and Spring Boot's {@code server.address} only reaches
 * the main (HTTPS) connector, so without this the HTTP port is open on every interface.
 */
@Configuration(proxyBeanMethods = false)
public class S3MockBindAddress {

    /** Property carrying the address to bind, set by {@link DevS3}. */
    static final String PROPERTY = "silo.dev.s3.address";

    @Bean
    static WebServerFactoryCustomizer<TomcatServletWebServerFactory> siloBindHttpConnector(Environment env) {
        String host = env.getProperty(PROPERTY);
        return factory -> {
            if (host == null || host.isBlank()) {
                return;
            }
            for (Connector connector : factory.getAdditionalTomcatConnectors()) {
                // Tomcat converts the string to the endpoint's InetAddress.
                connector.setProperty("address", host);
            }
        };
    }
}
