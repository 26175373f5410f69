// Preferred-leader election on every partition of the cluster, through Kafka's own Admin client
// (Admin.electLeaders, the call behind kafka-leader-election.sh). Run by the chaos suite as a
// single-file source program on the broker's classpath (kafka-clients is on it; the tools jar,
// which holds LeaderElectionCommand, is not):
//   java -cp <kafka classpath> ElectLeaders.java <bootstrap>
// Prints one line per partition whose leader moved, then "moved=<n> not-needed=<n> failed=<n>".
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ElectionNotNeededException;

public class ElectLeaders {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    int moved = 0, notNeeded = 0, failed = 0;
    try (Admin admin = Admin.create(props)) {
      Map<TopicPartition, Optional<Throwable>> result = admin.electLeaders(ElectionType.PREFERRED, null).partitions().get();
      for (Map.Entry<TopicPartition, Optional<Throwable>> e : result.entrySet()) {
        Optional<Throwable> err = e.getValue();
        if (err.isEmpty()) {
          moved++;
          System.out.println("elected " + e.getKey());
        } else if (err.get() instanceof ElectionNotNeededException) {
          notNeeded++;
        } else {
          failed++;
          System.out.println("failed " + e.getKey() + ": " + err.get().getClass().getSimpleName() + ": " + err.get().getMessage());
        }
      }
    }
    System.out.println("moved=" + moved + " not-needed=" + notNeeded + " failed=" + failed);
  }
}
