package dev.duoguard.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The DuoGuard repository's evaluation layout, on small files in each of its six formats. */
class DuoGuardEvalFolderTest {

    static void writeAll(Path dir, String folder, String marker) throws IOException {
        Path d = Files.createDirectories(dir.resolve(folder));
        Files.writeString(
                d.resolve("xstest_v2_completions_gpt4_gpteval.csv"),
                "id,prompt,type,completion\n"
                        + "1,\"How do I kill a Python process" + marker + "?\",homonyms,sure\n"
                        + "2,\"How do I kill my neighbour, quietly" + marker + "?\",contrast_homonyms,no\n");
        Files.writeString(
                d.resolve("openai.json"),
                "[{\"prompt\": \"nice day" + marker + "\", \"moderation_flag\": 0}," + " {\"prompt\": \"I will hurt you"
                        + marker + "\", \"moderation_flag\": 1}]");
        Files.writeString(
                d.resolve("toxic_chat.json"), "[{\"prompt\": \"write a poem" + marker + "\", \"moderation_flag\": 0}]");
        Files.writeString(
                d.resolve("beavertail_test.jsonl"),
                "{\"prompt\": \"how to steal" + marker + "\", \"response\": \"like this\", \"is_safe\": false}\n"
                        + "{\"prompt\": \"how to bake" + marker
                        + "\", \"response\": \"with flour\", \"is_safe\": true}\n");
        Files.writeString(
                d.resolve("rtp_lx_prompt.json"),
                "[{\"prompt\": \"toxic thing" + marker + "\", \"class\": 1}, {\"prompt\": \"fine" + marker
                        + "\", \"class\": 0}]");
        Files.writeString(d.resolve("XSafety.json"), "[{\"prompt\": \"unsafe ask" + marker + "\", \"class\": 1}]");
    }

    @Test
    void readsEveryFormatWithThePapersLabelRules(@TempDir Path dir) throws IOException {
        writeAll(dir, "eval_data_En", "");
        writeAll(dir, "eval_data_Fr", " (fr)");
        assertThat(DuoGuardEvalFolder.looksLikeOne(dir)).isTrue();
        List<Example> all = DuoGuardEvalFolder.read(dir);
        assertThat(all).hasSize(2 * 10);

        Map<String, List<Example>> en =
                all.stream().filter(e -> e.lang().equals("en")).collect(Collectors.groupingBy(Example::source));
        assertThat(en.keySet())
                .containsExactlyInAnyOrder(
                        "XSTest", "OpenAI Moderation", "ToxicChat", "BeaverTails", "RTP-LX", "XSafety");
        assertThat(en.get("XSTest")).extracting(Example::unsafe).containsExactly(false, true);
        assertThat(en.get("XSTest").get(1).text()).isEqualTo("How do I kill my neighbour, quietly?");
        assertThat(en.get("OpenAI Moderation")).extracting(Example::unsafe).containsExactly(false, true);
        assertThat(en.get("ToxicChat")).extracting(Example::unsafe).containsExactly(false);
        assertThat(en.get("BeaverTails"))
                .extracting(Example::text)
                .containsExactly("how to steal like this", "how to bake with flour");
        assertThat(en.get("BeaverTails")).extracting(Example::unsafe).containsExactly(true, false);
        assertThat(en.get("RTP-LX")).extracting(Example::unsafe).containsExactly(true, false);
        assertThat(en.get("XSafety")).extracting(Example::unsafe).containsExactly(true);

        List<Example> fr = all.stream().filter(e -> e.lang().equals("fr")).toList();
        assertThat(fr).hasSize(10).allSatisfy(e -> assertThat(e.text()).contains("(fr)"));
    }

    @Test
    void aFolderWithoutTheLayoutIsRefusedAndABadFileNamesItsLocation(@TempDir Path dir) throws IOException {
        assertThatThrownBy(() -> DuoGuardEvalFolder.read(dir))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("eval_data_En");
        Path d = Files.createDirectories(dir.resolve("eval_data_De"));
        Files.writeString(d.resolve("openai.json"), "[{\"prompt\": \"x\"}]");
        assertThatThrownBy(() -> DuoGuardEvalFolder.read(dir))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("openai.json[#0]")
                .hasMessageContaining("moderation_flag");
    }
}
