package io.silo.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's RPC × role table says exactly what {@link RpcPolicy} enforces, so the two cannot drift apart. */
class ReadmeRoleMatrixTest {

  private static final Pattern SERVICE = Pattern.compile("`(\\w+Service)`: ([^;|]+)");

  @Test
  void theReadmeRoleTableListsEveryRpcWithTheLeastRoleRpcPolicyRequires() throws Exception {
    List<String> lines = Files.readAllLines(Path.of("..", "README.md"));
    int header = lines.indexOf("| RPC | viewer | operator | admin |");
    assertThat(header).as("the README's role table").isPositive();
    Map<String, Role> documented = new HashMap<>();
    for (String line : lines.subList(header + 2, lines.size())) {
      if (!line.startsWith("|")) {
        break;
      }
      String[] cells = line.split("\\|", -1);
      Role least = null;
      for (int column = 0; column < 3 && least == null; column++) {
        if (cells[2 + column].trim().startsWith("✓")) {
          least = Role.values()[column];
        }
      }
      Matcher services = SERVICE.matcher(cells[1]);
      while (services.find()) {
        for (String method : services.group(2).replaceAll("\\(.*\\)", "").split(",")) {
          documented.put("silo.v1." + services.group(1) + "/" + method.trim(), least);
        }
      }
    }
    assertThat(documented).isEqualTo(RpcPolicy.REQUIRED);
  }
}
