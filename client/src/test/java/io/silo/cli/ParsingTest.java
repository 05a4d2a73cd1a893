package io.silo.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ParsingTest {

  @Test
  void serverAddressAcceptsHostPortAndBracketedIpv6() {
    assertThat(ServerAddress.parse("silo.example.com:443")).isEqualTo(new ServerAddress("silo.example.com", 443));
    assertThat(ServerAddress.parse("[::1]:50051")).isEqualTo(new ServerAddress("::1", 50051));
    assertThat(ServerAddress.parse("[::1]:50051").toString()).isEqualTo("[::1]:50051");
  }

  @Test
  void serverAddressRejectsMissingOrBadPorts() {
    for (String bad : new String[] {"localhost", ":50051", "localhost:", "localhost:x", "localhost:0", "::1:50051", ""}) {
      assertThatThrownBy(() -> ServerAddress.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void onlyLoopbackHostsDefaultToPlaintext() {
    assertThat(ServerAddress.parse("localhost:1").isLoopback()).isTrue();
    assertThat(ServerAddress.parse("127.0.0.1:1").isLoopback()).isTrue();
    assertThat(ServerAddress.parse("[::1]:1").isLoopback()).isTrue();
    assertThat(ServerAddress.parse("silo.internal:1").isLoopback()).isFalse();
    assertThat(ServerAddress.parse("10.0.0.5:1").isLoopback()).isFalse();
  }

  @Test
  void timeoutAcceptsUnitsBareSecondsAndIso() {
    DurationConverter c = new DurationConverter();
    assertThat(c.convert("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(c.convert("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.convert("45")).isEqualTo(Duration.ofSeconds(45));
    assertThat(c.convert("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(c.convert("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(c.convert("PT1.5S")).isEqualTo(Duration.ofMillis(1500));
    assertThatThrownBy(() -> c.convert("-1s")).isInstanceOf(CommandLine.TypeConversionException.class);
    assertThatThrownBy(() -> c.convert("0ms")).isInstanceOf(CommandLine.TypeConversionException.class);
  }

  @Test
  void tableAlignsColumnsAndNeutralisesControlCharacters() {
    String text = new Table("A", "LONGER")
        .row("xxxx", "y")
        .row("z", "line\nbreak")
        .row("", "empty first")
        .render();
    assertThat(text).isEqualTo("A     LONGER\nxxxx  y\nz     line?break\n-     empty first\n");
  }

  @Test
  void singleValueTableHasNoHeader() {
    assertThat(Table.value("SERVING").render()).isEqualTo("SERVING\n");
  }
}
