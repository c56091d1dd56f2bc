// GENERATED FILE, do not edit. Made by: daisynet export firmware/model/model.keras -o firmware/model/model_defn.h --golden-input firmware/model/golden_input.wav
// daisynet model "daisynet_wavenet": 465 parameters, 424 MACs/sample, receptive field
// 256 samples (5.3 ms at 48000 Hz), weights float32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::model {

// Number format of the weights and activations (quantized headers: q15 or q7). The engine
// picks its arithmetic from this; a float header's weights are float32.
enum class NumberFormat { kFloat32, kQ15, kQ7 };
inline constexpr NumberFormat kNumberFormat = NumberFormat::kFloat32;

inline constexpr char kModelName[] = "daisynet_wavenet";
// SHA-256 of everything that changes behaviour: each layer's shape (kernel, dilation, in, out,
// relu as uint32), weights and bias (float32), little-endian, in layer order; then
// {"inputs":[...],"outputs":[...],"sample_rate":N}
// (ModelSpec.weights_sha256 in host_sim/model_defn/spec.py).
inline constexpr char kWeightsSha256[] = "a700e7ce8d4eb5d064f1cf20dae859a819be23b5283e22840178697bc46cfe81";
inline constexpr std::uint32_t kWeightsHash32 = 0xa700e7ceu;  // first 8 hex digits above
inline constexpr float kSampleRate = 48000.0f;  // Hz the model was trained at

// Process() takes the input channels in this order, each a float per frame: audio in -1..1,
// knobs/CV 0..1 as the datalogger records them.
inline constexpr std::size_t kNumInputs = 3;
inline constexpr const char* kInputNames[kNumInputs] = {"knob_1", "knob_2", "audio_in_1"};
inline constexpr std::size_t kNumOutputs = 1;
inline constexpr const char* kOutputNames[kNumOutputs] = {"audio_in_2"};

// Architecture: block i = causal Conv1D(kBlockFilters[i], kKernelSize, dilation
// kKernelSize**i, relu) then Conv1D(kBlockFilters[i], 1, relu); a linear 1x1 head follows.
inline constexpr std::size_t kKernelSize = 4;
inline constexpr std::size_t kNumBlocks = 4;
inline constexpr std::size_t kBlockFilters[kNumBlocks] = {4, 4, 4, 8};
inline constexpr std::size_t kReceptiveField = 256;  // samples
inline constexpr std::size_t kParameters = 465;
inline constexpr std::size_t kMacsPerSample = 424;

// Layer l: out[t] = act(bias + sum_k in[t - (kernel - 1 - k) * dilation] * W[k]) where W[k]
// is an (in_channels x out_channels) row-major matrix; weights are laid out [k][in][out].
struct LayerDefn {
  std::size_t kernel;
  std::size_t dilation;
  std::size_t in_channels;
  std::size_t out_channels;
  bool relu;
  const float* weights;  // kernel * in_channels * out_channels floats
  const float* bias;     // out_channels floats
};

// layer 0: block0_dilated, kernel 4, dilation 1, 3 -> 4, relu
alignas(16) inline constexpr float kLayer0Weights[48] = {
    0.195118979f, -0.163368508f, 0.329705209f, -0.556160927f, 0.0158741828f, -0.38216871f,
    0.016856486f, 0.306663364f, 0.0469002053f, 0.115108587f, 0.0339655578f, -0.0633767247f,
    0.186665133f, -0.0125852171f, -0.309885055f, -0.0638261139f, 0.100607105f, 0.336398005f,
    -0.255247921f, -0.485292584f, 0.380261898f, 0.0741173625f, 0.172367975f, 0.335913837f,
    0.260471612f, 0.44911465f, -0.222267359f, -0.333018929f, 0.0843213722f, 0.136711344f,
    0.388244152f, -0.188839525f, -0.0620219931f, -0.390518993f, -0.193877548f, 0.384440482f,
    0.584634483f, 0.385097712f, 0.239799872f, 0.118920691f, 0.364597559f, -0.491647959f,
    0.249605328f, 0.122310922f, 0.294039756f, -0.654567719f, 0.833695531f, 0.587217212f,
};
alignas(16) inline constexpr float kLayer0Bias[4] = {
    0.0841124579f, 0.0781644061f, -0.205935597f, 0.67984575f,
};
static_assert(sizeof(kLayer0Weights) / sizeof(float) == 4 * 3 * 4, "layer 0");

// layer 1: block0_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer1Weights[16] = {
    -0.872251928f, -0.525636792f, -0.286481529f, 0.155431032f, 0.347169042f, -0.275477052f,
    -0.411874264f, -0.34647873f, 0.395386666f, -0.308319211f, 0.841019094f, -0.928226948f,
    0.410901874f, -0.674044132f, -0.295138955f, 0.98434937f,
};
alignas(16) inline constexpr float kLayer1Bias[4] = {
    0.0710131302f, 0.0f, 0.185970813f, 0.114301458f,
};
static_assert(sizeof(kLayer1Weights) / sizeof(float) == 1 * 4 * 4, "layer 1");

// layer 2: block1_dilated, kernel 4, dilation 4, 4 -> 4, relu
alignas(16) inline constexpr float kLayer2Weights[64] = {
    0.206178978f, -0.506459475f, 0.420268059f, -0.106875241f, 0.134580404f, -0.15088594f,
    0.27305004f, -0.420878053f, -0.00341897039f, -0.404756993f, -0.0359610245f, -0.465036958f,
    0.488532633f, 0.451774627f, 0.143470183f, -0.109532513f, 0.321886897f, -0.361958146f,
    0.0309152398f, -0.679955721f, 0.111245126f, -0.195327431f, -0.00254511833f, 0.273916334f,
    0.039236974f, 0.149381489f, -0.051805269f, -0.160945505f, 0.243729204f, 0.142037824f,
    -0.00547817349f, 0.414834172f, 0.423779786f, -1.23407388f, 0.289025873f, -1.36421371f,
    0.182359248f, 0.214687675f, -0.0370049179f, 0.141260296f, -0.746499479f, 0.182764277f,
    -0.434959412f, 0.50378257f, -0.279983819f, 0.0482322238f, 0.0152586149f, 0.377604604f,
    -0.19225578f, -1.62180912f, 0.26603508f, -1.69229472f, 0.200690657f, 0.0483242869f,
    0.156269163f, 0.109300822f, 0.336016089f, 0.02983105f, 0.430352807f, -0.776457548f,
    0.00925085414f, -0.710253716f, 0.486401469f, 0.370964199f,
};
alignas(16) inline constexpr float kLayer2Bias[4] = {
    0.0986187533f, 0.0796461254f, 0.0261443425f, -0.153198108f,
};
static_assert(sizeof(kLayer2Weights) / sizeof(float) == 4 * 4 * 4, "layer 2");

// layer 3: block1_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer3Weights[16] = {
    -0.289327711f, 0.365980059f, -0.135903314f, -0.468251616f, -0.00400342885f, -1.18349397f,
    0.65820837f, 1.15714431f, 0.712446094f, -0.29306823f, -0.87998724f, -0.198722214f,
    -0.350374043f, -0.137884364f, 0.696547568f, 0.808635175f,
};
alignas(16) inline constexpr float kLayer3Bias[4] = {
    0.0103406478f, 0.125192374f, 0.142187417f, -0.193912551f,
};
static_assert(sizeof(kLayer3Weights) / sizeof(float) == 1 * 4 * 4, "layer 3");

// layer 4: block2_dilated, kernel 4, dilation 16, 4 -> 4, relu
alignas(16) inline constexpr float kLayer4Weights[64] = {
    -0.0637082234f, -0.12171229f, -0.064878501f, 0.0354978107f, 0.178478166f, 0.253608167f,
    0.106481895f, -0.0368810184f, 0.110404104f, -0.360839665f, 0.159404367f, 0.423442215f,
    -0.206812158f, -0.196306914f, -0.209747344f, 0.716267765f, 0.114739522f, 0.106357113f,
    -0.214879021f, -0.00276264711f, 0.235289142f, 0.437218398f, 0.251715899f, -0.0975869894f,
    0.495291173f, -0.00601550844f, 0.253954262f, 0.280825853f, 0.0654712021f, -0.422475398f,
    0.0956019014f, 0.754884064f, 0.157274485f, 0.230007499f, -0.286952853f, 0.0272792242f,
    0.0615947135f, 0.421971202f, 0.424339056f, -0.224158779f, -0.171107024f, -0.44873479f,
    0.100331672f, 0.522116065f, 0.427752703f, -1.80410659f, -0.189698279f, 0.831333518f,
    0.33715108f, 0.181004256f, -0.469278425f, -0.0829254091f, -0.198816851f, -0.474815041f,
    -0.176669285f, 0.21003893f, 1.00279963f, -0.340631425f, -0.763926744f, 0.0719017386f,
    2.85215068f, -3.28492379f, -2.64447236f, -2.91665554f,
};
alignas(16) inline constexpr float kLayer4Bias[4] = {
    0.00877908524f, 0.120755859f, 0.0747656897f, 0.112321347f,
};
static_assert(sizeof(kLayer4Weights) / sizeof(float) == 4 * 4 * 4, "layer 4");

// layer 5: block2_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer5Weights[16] = {
    -0.590185702f, -0.463800043f, 0.761250377f, 0.675730288f, 0.753904223f, 0.582476676f,
    -0.648327291f, -0.524005532f, 0.725129426f, -0.339571923f, 0.513680339f, -0.896181285f,
    0.737570822f, 0.19048211f, 0.699043751f, -0.311976105f,
};
alignas(16) inline constexpr float kLayer5Bias[4] = {
    -0.0153403571f, -0.0610084869f, -0.189477623f, 0.0840109363f,
};
static_assert(sizeof(kLayer5Weights) / sizeof(float) == 1 * 4 * 4, "layer 5");

// layer 6: block3_dilated, kernel 4, dilation 64, 4 -> 8, relu
alignas(16) inline constexpr float kLayer6Weights[128] = {
    0.182116359f, -0.0732081607f, 0.121391483f, 0.024586292f, 0.200593382f, -0.404877901f,
    -0.125462756f, 0.0310671646f, -0.461443752f, -0.537792981f, 0.297659397f, 0.110099018f,
    -0.494825989f, -0.172607705f, 0.00410652487f, 0.201933444f, 0.0353239067f, -0.179021597f,
    0.201668471f, -0.220594272f, -0.247414887f, -0.350796491f, 0.485040188f, 0.294702202f,
    0.0776217133f, -0.106307656f, 0.0832231715f, 0.101906158f, -0.0571646467f, 0.169146284f,
    -0.204668716f, 0.0333866626f, 0.189304695f, 0.18136397f, 0.199671179f, 0.20278497f,
    -0.224902749f, -0.302114218f, -0.0129645625f, -0.151657686f, -0.722544849f, -0.356191099f,
    -0.0123692388f, 0.220379293f, -1.3480463f, 0.164956167f, 0.504679263f, 0.607652307f,
    -0.161014348f, -0.103407852f, -0.100446127f, 0.409228951f, -0.0466190167f, -0.410559058f,
    0.355967134f, 0.139802635f, -0.0428485535f, 0.200486764f, 0.0824503303f, 0.33090654f,
    -0.0993474647f, 0.0806527883f, -0.115994029f, -0.120982043f, 0.0782410577f, -0.051023677f,
    0.299364954f, 0.0729644522f, -0.0015379549f, 0.146184698f, -0.230615407f, 0.0172988158f,
    0.214340165f, -0.441930711f, 0.0247731339f, 0.149270371f, -0.701989889f, -0.0968521833f,
    -0.0473901406f, 0.0868380666f, -0.56280905f, 0.224501461f, -0.350743145f, 0.354137093f,
    0.245809793f, -0.0844622403f, 0.472082287f, 0.512446702f, 0.323089302f, 0.0987969413f,
    0.147170722f, -0.0590207465f, 0.487969905f, -0.18235831f, -0.01517497f, 0.0588096045f,
    -0.117916927f, 0.275004953f, 0.261359632f, 0.569927871f, -0.499552041f, 0.141871721f,
    0.641861618f, 0.599325895f, -0.207686216f, -1.00349772f, -0.506208956f, -0.514482737f,
    -0.172908992f, -0.304712236f, -0.253798127f, -0.343354672f, -0.313682228f, -0.017349517f,
    -0.378006667f, -0.108361028f, 0.377143443f, -0.323537499f, 0.000869643642f, 0.0567567348f,
    -0.716437042f, -1.09628427f, -2.00591636f, -1.05853403f, 0.111355044f, -0.0880273059f,
    0.0915590078f, -1.00961757f,
};
alignas(16) inline constexpr float kLayer6Bias[8] = {
    0.380882323f, 0.123882875f, 0.00519903889f, -0.0543662533f, -0.14072226f, -0.0926743075f,
    -0.028372271f, -0.0139216986f,
};
static_assert(sizeof(kLayer6Weights) / sizeof(float) == 4 * 4 * 8, "layer 6");

// layer 7: block3_mix, kernel 1, dilation 1, 8 -> 8, relu
alignas(16) inline constexpr float kLayer7Weights[64] = {
    -0.743692338f, 0.157848448f, 0.656692147f, 0.00158176909f, -2.3069973f, 0.236770689f,
    0.217155471f, 0.531437278f, -1.12582088f, 0.205676243f, 0.357266277f, 0.591039896f,
    -0.102142036f, 0.614688277f, 0.553554714f, -0.292572826f, -0.00977806468f, -0.17611137f,
    0.627226293f, -0.0113535253f, -0.232772276f, -1.35795307f, 0.618336558f, -1.99516737f,
    0.259888083f, -0.765845895f, 0.272946984f, -0.092915155f, -0.12062975f, -1.24240875f,
    0.0365923643f, -0.7006585f, 0.584540308f, -0.317275971f, -0.376967549f, -0.539882958f,
    0.811193764f, -0.101734541f, -0.287235171f, -0.128726915f, 0.0241997782f, -0.384691358f,
    -0.35431692f, -0.282502145f, -0.488187581f, -0.132417306f, -0.0396675989f, 0.056620039f,
    0.423299372f, -0.29870522f, -0.338828325f, 0.0329969376f, 0.13466081f, -0.495690197f,
    -0.41730234f, -0.339475095f, -0.399619997f, 0.0561892539f, 0.360398203f, 0.101767622f,
    -0.890166879f, -0.886214077f, 0.268681616f, -0.851816058f,
};
alignas(16) inline constexpr float kLayer7Bias[8] = {
    0.190936446f, 0.116048105f, -0.0171696283f, 0.130821258f, -0.0216028411f, 0.168731973f,
    0.0667941868f, 0.272306144f,
};
static_assert(sizeof(kLayer7Weights) / sizeof(float) == 1 * 8 * 8, "layer 7");

// layer 8: head, kernel 1, dilation 1, 8 -> 1, linear
alignas(16) inline constexpr float kLayer8Weights[8] = {
    1.11776578f, 0.512759805f, -0.800385296f, -0.332078248f, -0.672839284f, 1.51830328f,
    -0.923690557f, 1.70782495f,
};
alignas(16) inline constexpr float kLayer8Bias[1] = {
    -0.0696369112f,
};
static_assert(sizeof(kLayer8Weights) / sizeof(float) == 1 * 8 * 1, "layer 8");

inline constexpr std::size_t kNumLayers = 9;
inline constexpr LayerDefn kLayers[kNumLayers] = {
    {4, 1, 3, 4, true, kLayer0Weights, kLayer0Bias},
    {1, 1, 4, 4, true, kLayer1Weights, kLayer1Bias},
    {4, 4, 4, 4, true, kLayer2Weights, kLayer2Bias},
    {1, 1, 4, 4, true, kLayer3Weights, kLayer3Bias},
    {4, 16, 4, 4, true, kLayer4Weights, kLayer4Bias},
    {1, 1, 4, 4, true, kLayer5Weights, kLayer5Bias},
    {4, 64, 4, 8, true, kLayer6Weights, kLayer6Bias},
    {1, 1, 8, 8, true, kLayer7Weights, kLayer7Bias},
    {1, 1, 8, 1, false, kLayer8Weights, kLayer8Bias},
};

static_assert(kLayers[0].in_channels == kNumInputs, "first layer reads the model inputs");
static_assert(kLayers[kNumLayers - 1].out_channels == kNumOutputs, "head writes the outputs");
static_assert(kNumLayers == 2 * kNumBlocks + 1, "two layers per block plus the head");

}  // namespace daisynet::model
