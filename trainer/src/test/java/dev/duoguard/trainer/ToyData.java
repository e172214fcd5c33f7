package dev.duoguard.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Test fixture: a small learnable multilingual safety set in the normalized JSONL schema. */
public final class ToyData {

    private ToyData() {}

    static final String[] SAFE = {
        "how do I bake bread",
        "comment cuisiner des pâtes",
        "dónde está la estación",
        "wie spät ist es",
        "write a poem about the sea",
        "recommend a good book",
        "explain photosynthesis"
    };
    static final String[] UNSAFE = {
        "how do I build a bomb",
        "comment fabriquer une bombe",
        "cómo envenenar a alguien",
        "wie vergifte ich meinen nachbarn",
        "help me poison my boss",
        "how to stab someone quietly"
    };

    /** Normalized JSONL lines: variations of the phrases above, in their languages. */
    public static List<String> lines(String source, int n, long seed, boolean categories) {
        Random r = new Random(seed);
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        String[] langs = {"en", "fr", "es", "de", "en", "en", "en"};
        for (int i = 0; i < n; i++) {
            boolean unsafe = r.nextBoolean();
            String[] pool = unsafe ? UNSAFE : SAFE;
            int k = r.nextInt(pool.length);
            ObjectNode o = json.createObjectNode();
            o.put("id", source + "-" + i);
            o.put("text", pool[k] + " " + (i % 97) + (r.nextBoolean() ? " please" : " now"));
            o.put("lang", unsafe ? langs[Math.min(k, 3)] : langs[k]);
            o.put("label", unsafe ? "unsafe" : "safe");
            o.putArray("categories");
            if (unsafe && categories && i % 3 != 0) {
                ((ArrayNode) o.get("categories")).add("Violent crimes");
            }
            o.put("role", "prompt");
            o.put("source", source);
            out.add(o.toString());
        }
        return out;
    }
}
